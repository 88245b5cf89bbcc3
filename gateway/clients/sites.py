"""Where a client is: her site's (else her country's) time zone, the local day there, and her site's region."""
from __future__ import annotations

import datetime as dt

from gateway.core import clock
from gateway.core.countries import COUNTRIES
from gateway.core.fields import FieldError
from gateway.core.models import Client
from gateway.schedules import schedule_for


def local_today(country: str) -> dt.date:
    """Today's date in the country's own time zone."""
    return clock.local_date(COUNTRIES[country].timezone)


def zone_of(client: Client) -> str:
    """The IANA zone a client's local dates and hours are in: her site's, else her country's."""
    return client.site.timezone if client.site else COUNTRIES[client.country].timezone


def region_of(client: Client) -> str | None:
    """The region (district, county) of the client's site; None without a site or a region."""
    return client.site.region if client.site else None


def site_region(country: str, region: str | None) -> str | None:
    """A site's region as its country's schedule file spells it; None for none (blank).

    FieldError (for the field ``region``) when the country's file does not list it,
    naming the regions it does list.
    """
    text = " ".join((region or "").split())
    if not text:
        return None
    schedule = schedule_for(country)
    found = schedule.region_named(text)
    if found is None:
        if not schedule.regions:
            raise FieldError(f"{country} has no regions in its schedule file; leave the region empty")
        raise FieldError(f"{text!r} is not a region of {country} (one of: {', '.join(schedule.regions)})")
    return found
