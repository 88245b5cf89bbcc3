"""The welcome SMS: one discreet message to a newly enrolled client, naming the USSD code and how to stop.

It is queued in the same transaction as her enrolment, whatever the channel
(API, CSV import, console form, a coordinator's USSD menu, an approved
enrolment request), as an ordinary message of ``kind = 'welcome'``: the
dispatch pass sends it like any other, counts it and shows it on the console.

- **Once**: a partial unique index (``uq_messages_welcome``) allows one
  welcome message per client, so a retried enrolment or a job run twice
  cannot make a second; the send job claims a message once.
- **In her send window**: the message is not sent before
  ``schedules.window.next_send_moment`` in her zone (her site's, else her
  country's): now inside the window, else the window's next opening (an
  enrolment at night is welcomed the next morning).
- **Never stale**: unlike a reminder it has no staleness cutoff; it waits
  for its window, however long a pause or an outage lasts.
- **Held back** when the coordinator asks (``welcome_sms: false`` in the API
  and CSV, "don't text now" on the console, a shared phone).
"""
from __future__ import annotations

import datetime as dt
from typing import Iterable, NamedTuple

from flask import current_app

from gateway.core import clock
from gateway.adapters.bulk import bulk_insert
from gateway.core.countries import COUNTRIES
from gateway.i18n import render
from gateway.core.models import Client, Message
from gateway.adapters.database import db
from gateway.clients.sites import zone_of
from gateway.schedules.window import next_send_moment

TEMPLATE = "sms.welcome"
KIND = "welcome"


def text(language: str) -> str:
    """The welcome SMS in ``language`` (English where it has no translation), naming the service code."""
    return render(TEMPLATE, language, code=current_app.config["SETTINGS"].ussd_service_code)


def queue(client: Client, now: dt.datetime | None = None) -> Message:
    """Queue her welcome SMS (the caller commits with her enrolment), due at her next send-window moment."""
    moment = next_send_moment(zone_of(client), now or clock.utcnow())
    message = Message(client_id=client.id, direction="out", phone=client.phone, text=text(client.language),
                      status="queued", backend=current_app.config["SETTINGS"].sms_backend, attempts=0, kind=KIND,
                      next_attempt_at=moment)
    db.session.add(message)
    return message


class NewClient(NamedTuple):
    """A client inserted in bulk (no ORM object), as the welcome needs her."""

    id: int
    phone: str
    language: str
    country: str


def queue_many(clients: Iterable[NewClient], site_zone: str | None, now: dt.datetime) -> int:
    """Queue the welcome SMS of clients inserted in bulk (a CSV batch), one statement; returns how many.

    ``site_zone``: the zone of the site they all joined, else each one's country's zone is used.
    """
    backend = current_app.config["SETTINGS"].sms_backend
    texts: dict[str, str] = {}
    rows = []
    for new in clients:
        zone = site_zone or COUNTRIES[new.country].timezone
        if new.language not in texts:
            texts[new.language] = text(new.language)
        rows.append({"client_id": new.id, "direction": "out", "phone": new.phone, "text": texts[new.language],
                     "status": "queued", "backend": backend, "attempts": 0, "kind": KIND,
                     "next_attempt_at": next_send_moment(zone, now), "created_at": now, "updated_at": now})
    bulk_insert(Message.__table__, rows)
    return len(rows)
