"""Where a client is: her site's (else her country's) time zone, and the local day there."""
from __future__ import annotations

import datetime as dt

from gateway.core import clock
from gateway.core.countries import COUNTRIES
from gateway.core.models import Client


def local_today(country: str) -> dt.date:
    """Today's date in the country's own time zone."""
    return clock.local_date(COUNTRIES[country].timezone)


def zone_of(client: Client) -> str:
    """The IANA zone a client's local dates and hours are in: her site's, else her country's."""
    return client.site.timezone if client.site else COUNTRIES[client.country].timezone
