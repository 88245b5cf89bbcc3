"""Broadcasts: one discreet message an admin or a coordinator writes to a set of her clients.

A broadcast is checked and previewed first (``preview``: the SMS parts, the
disclosure check, how many clients it reaches and an estimated cost), then
sent (``send``): a ``Broadcast`` row and one queued ``Message`` per
recipient (``kind = 'broadcast'``), which the dispatch pass sends like any
other message. The rules every SMS keeps hold here too:

- **Her clients only**: a coordinator reaches the clients of her own sites;
  naming another site is refused, naming nothing means all of hers.
- **Discreet**: a text with a word that could disclose a client's status
  (``i18n.disclosing_words``) is refused, whoever writes it.
- **Opt-outs**: a client who said STOP (or whose number the network refused
  for good) is not a recipient.
- **The send window**: each copy waits for her send window
  (``schedules.window.next_send_moment``); a copy that waits is never dropped as stale.
- **One SMS a day**: a client who already gets an SMS on that local day (a
  reminder, her welcome, another broadcast) is left out, unless the sender
  ticks *urgent* ("the clinic is closed tomorrow").
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, NamedTuple

from flask import current_app
from sqlalchemy import and_, case, exists, func, select

from gateway.core import audit, clock, fields
from gateway.adapters.bulk import among, bulk_insert
from gateway.core.countries import COUNTRIES
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from gateway.core.fields import FieldError
from gateway.i18n import disclosing_words, is_gsm7, sms_segments
from gateway.core.models import BROADCAST_AUDIENCES, Appointment, Broadcast, Client, Message, Reminder, Site
from gateway.schedules.window import next_send_moment

KIND = "broadcast"
# Longer texts cost more and are read less: three parts (459 GSM-7 characters) at most.
MAX_SEGMENTS = 3
MAX_CHARS = 1000
# Reminder states that mean "she gets (or got) an SMS that day".
LIVE_REMINDERS = ("scheduled", "queued", "sent", "delivered")
# The fields a broadcast is written with (a form's or the API's).
FIELDS = ("text", "audience", "site_id", "visit_date", "urgent")
# How far back the cost of sent SMS is averaged for the estimate.
COST_DAYS = 30


@dataclass(frozen=True)
class Sender:
    """Who writes: a console user (or an API token's user), as plain values."""

    user_id: int | None
    actor: str  # the audit actor string, e.g. "user:3"
    site_ids: frozenset[int] | None  # None: an admin, every site


@dataclass(frozen=True)
class Request:
    """A checked broadcast: the text and whom it goes to."""

    text: str
    audience: str  # BROADCAST_AUDIENCES
    site_id: int | None = None  # audience "site"; for the others, an optional narrowing to one site
    visit_date: dt.date | None = None  # audience "visit_date": her (or her infant's) visit due that local day
    urgent: bool = False


@dataclass
class Preview:
    """What sending would do, shown before the sender confirms."""

    text: str
    characters: int
    segments: int
    gsm7: bool
    disclosing: list[str]
    recipients: int  # messages that would be made
    skipped_opted_out: int
    skipped_daily: int
    waiting: int  # recipients outside their send window now: they get it when it next opens
    cost_each: Decimal | None  # estimated cost of one copy (all its parts); None: nothing sent with a cost yet
    currency: str | None

    @property
    def cost(self) -> Decimal | None:
        return None if self.cost_each is None else (self.cost_each * self.recipients).quantize(Decimal("0.01"))

    @property
    def problems(self) -> dict[str, str]:
        """Why it may not be sent, by field (empty: it may)."""
        out = {}
        if self.disclosing:
            out["text"] = (f"could disclose a client's status ({', '.join(dict.fromkeys(self.disclosing))}); "
                           "write it without these words")
        elif self.segments > MAX_SEGMENTS:
            out["text"] = f"is {self.segments} SMS parts; at most {MAX_SEGMENTS}"
        return out


class _Recipient(NamedTuple):
    id: int
    phone: str
    zone: str
    send_at: dt.datetime  # UTC: now, or when her send window next opens
    day: dt.date  # her local date at send_at


def parse(data: dict[str, Any], sender: Sender) -> Request:
    """Check a broadcast's fields (form or JSON); raise ValidationError naming each bad one. Changes nothing."""
    errors: dict[str, str] = {}
    for key in data:
        if key not in FIELDS:
            errors[str(key)[:40]] = "unknown field"

    def read(name, reader, *args, **kwargs):
        try:
            return reader(data.get(name), *args, **kwargs)
        except FieldError as exc:
            errors.setdefault(name, str(exc))
            return None

    raw_text = data.get("text")
    text = None
    if raw_text is None or (isinstance(raw_text, str) and not raw_text.strip()):
        errors["text"] = "is required"
    elif not isinstance(raw_text, str):
        errors["text"] = "must be text"
    else:
        # Line breaks are kept (an SMS may have them); other control characters are not.
        text = "\n".join(line.strip() for line in raw_text.strip().replace("\r\n", "\n").split("\n"))
        if len(text) > MAX_CHARS:
            errors["text"] = f"must be at most {MAX_CHARS} characters"
        elif any(ord(ch) < 32 and ch != "\n" for ch in text):
            errors["text"] = "must not contain control characters"
    audience = data.get("audience")
    if not isinstance(audience, str) or audience not in BROADCAST_AUDIENCES:
        errors["audience"] = f"must be one of {', '.join(BROADCAST_AUDIENCES)}"
    site_id = read("site_id", fields.integer, 1, fields.MAX_ID)
    visit_date = read("visit_date", fields.date)
    urgent = read("urgent", fields.boolean, default=False)
    if audience == "site" and site_id is None and "site_id" not in errors:
        errors["site_id"] = "is required: choose a site"
    if audience == "visit_date" and visit_date is None and "visit_date" not in errors:
        errors["visit_date"] = "is required: the day the visits are due (YYYY-MM-DD)"
    if site_id is not None and "site_id" not in errors:
        if sender.site_ids is not None and site_id not in sender.site_ids:
            errors["site_id"] = "is not one of your sites"
        elif db.session.get(Site, site_id) is None:
            errors["site_id"] = "no such site"
    if errors:
        raise ValidationError("some fields are not valid", errors)
    return Request(text=text, audience=audience, site_id=site_id,
                   visit_date=visit_date if audience == "visit_date" else None, urgent=bool(urgent))


def _audience(request: Request, sender: Sender):
    """The condition on ``Client`` rows the broadcast is addressed to (before opt-outs and the daily rule)."""
    conditions = []
    if sender.site_ids is not None:
        conditions.append(among(Client.site_id, sender.site_ids) if sender.site_ids else Client.id < 0)
    if request.site_id is not None:
        conditions.append(Client.site_id == request.site_id)
    if request.audience == "visit_date":
        conditions.append(exists().where(Appointment.client_id == Client.id, Appointment.status == "due",
                                         Appointment.due_date == request.visit_date))
    return and_(*conditions) if conditions else Client.id > 0


def _recipients(request: Request, sender: Sender, now: dt.datetime) -> tuple[list[_Recipient], int, int]:
    """Who gets it, and how many were left out for an opt-out and for the one-SMS-a-day rule."""
    reachable = and_(Client.opted_out.is_(False), Client.phone_flag.is_(None))
    rows = db.session.execute(
        select(Client.id, Client.phone, Client.country, Site.timezone, reachable.label("reachable"))
        .outerjoin(Site, Site.id == Client.site_id).where(_audience(request, sender)).order_by(Client.id)).all()
    opted_out = sum(1 for r in rows if not r.reachable)
    moments: dict[str, tuple[dt.datetime, dt.date]] = {}  # a few zones for thousands of clients
    recipients = []
    for r in rows:
        if r.reachable:
            zone = r.timezone or COUNTRIES[r.country].timezone
            if zone not in moments:
                send_at = next_send_moment(zone, now)
                moments[zone] = send_at, clock.local_date(zone, send_at)
            recipients.append(_Recipient(r.id, r.phone, zone, *moments[zone]))
    if request.urgent or not recipients:
        return recipients, opted_out, 0
    busy = _busy_days([r.id for r in recipients], {r.day for r in recipients}, {r.id: r.zone for r in recipients},
                      now)
    kept = [r for r in recipients if (r.id, r.day) not in busy]
    return kept, opted_out, len(recipients) - len(kept)


def _busy_days(client_ids: list[int], days: set[dt.date], zones: dict[int, str],
               now: dt.datetime) -> set[tuple[int, dt.date]]:
    """(client, local day) pairs on which she already gets an SMS: a live reminder, or a welcome or broadcast."""
    busy = set(db.session.execute(select(Reminder.client_id, Reminder.send_date).where(
        among(Reminder.client_id, client_ids), among(Reminder.send_date, days),
        Reminder.status.in_(LIVE_REMINDERS))).all())
    moment = func.coalesce(Message.sent_at, Message.next_attempt_at, Message.created_at)
    for client_id, at in db.session.execute(select(Message.client_id, moment).where(
            among(Message.client_id, client_ids), Message.kind.is_not(None),
            Message.status.not_in(("cancelled", "failed")), Message.created_at >= now - dt.timedelta(days=3))):
        busy.add((client_id, clock.local_date(zones[client_id], at)))
    return busy


def _cost_each(segments: int) -> tuple[Decimal | None, str | None]:
    """An estimate of one copy's cost: the average cost of the SMS sent lately (each one part) times the parts."""
    since = clock.utcnow() - dt.timedelta(days=COST_DAYS)
    row = db.session.execute(
        select(Message.cost_currency, func.avg(Message.cost_amount), func.count()).where(
            Message.direction == "out", Message.cost_amount.is_not(None), Message.sent_at >= since)
        .group_by(Message.cost_currency).order_by(func.count().desc()).limit(1)).first()
    if row is None or row[1] is None:
        return None, None
    return (Decimal(str(row[1])) * segments).quantize(Decimal("0.0001")), row[0]


def preview(request: Request, sender: Sender, now: dt.datetime | None = None) -> Preview:
    """What sending ``request`` now would do. Reads only."""
    now = now or clock.utcnow()
    recipients, opted_out, daily = _recipients(request, sender, now)
    segments = sms_segments(request.text)
    cost_each, currency = _cost_each(segments)
    return Preview(text=request.text, characters=len(request.text), segments=segments, gsm7=is_gsm7(request.text),
                   disclosing=disclosing_words(request.text), recipients=len(recipients),
                   skipped_opted_out=opted_out, skipped_daily=daily,
                   waiting=sum(1 for r in recipients if r.send_at > now), cost_each=cost_each, currency=currency)


def send(request: Request, sender: Sender, now: dt.datetime | None = None) -> Broadcast:
    """Write the broadcast and queue a copy for each recipient, audited, in the caller's transaction.

    The checks are made again here (the preview may be old): a text that
    discloses, or is too long, is refused with a ValidationError, and nothing is written.
    """
    now = now or clock.utcnow()
    checked = preview(request, sender, now)
    if checked.problems:
        raise ValidationError("the message cannot be sent", checked.problems)
    recipients, opted_out, daily = _recipients(request, sender, now)
    if not recipients:
        raise ValidationError("nobody to send it to", {"audience": "no client of yours can get it (see the counts)"})
    broadcast = Broadcast(user_id=sender.user_id, actor=sender.actor, text=request.text, audience=request.audience,
                          site_id=request.site_id, visit_date=request.visit_date, urgent=request.urgent,
                          segments=checked.segments, recipients=len(recipients), skipped_opted_out=opted_out,
                          skipped_daily=daily)
    db.session.add(broadcast)
    db.session.flush()
    backend = current_app.config["SETTINGS"].sms_backend
    bulk_insert(Message.__table__, [
        {"client_id": r.id, "direction": "out", "phone": r.phone, "text": request.text, "status": "queued",
         "backend": backend, "attempts": 0, "kind": KIND, "broadcast_id": broadcast.id, "next_attempt_at": r.send_at,
         "created_at": now, "updated_at": now} for r in recipients])
    audit.record(sender.actor, "broadcast.sent", "broadcast", broadcast.id,
                 {"audience": request.audience, "site_id": request.site_id,
                  "visit_date": request.visit_date.isoformat() if request.visit_date else None,
                  "urgent": request.urgent, "recipients": len(recipients), "skipped_opted_out": opted_out,
                  "skipped_daily": daily, "segments": checked.segments})
    return broadcast


class Sent(NamedTuple):
    """A past broadcast as the console lists it, with its copies' outcomes counted now."""

    broadcast: Broadcast
    delivered: int
    failed: int
    waiting: int  # queued or being sent
    sent: int  # accepted by the network (or kept in the outbox), no report yet


def to_json(sent: Sent) -> dict[str, Any]:
    """A broadcast as the API shows it."""
    b = sent.broadcast
    return {"id": b.id, "text": b.text, "audience": b.audience, "site_id": b.site_id,
            "visit_date": b.visit_date.isoformat() if b.visit_date else None, "urgent": b.urgent,
            "segments": b.segments, "recipients": b.recipients, "skipped_opted_out": b.skipped_opted_out,
            "skipped_daily": b.skipped_daily, "delivered": sent.delivered, "failed": sent.failed,
            "waiting": sent.waiting, "sent": sent.sent, "created_at": b.created_at.isoformat()}


def preview_json(checked: Preview) -> dict[str, Any]:
    """A preview as the API shows it; ``problems`` empty when it may be sent."""
    cost = checked.cost
    return {"text": checked.text, "characters": checked.characters, "segments": checked.segments,
            "gsm7": checked.gsm7, "disclosing": checked.disclosing, "recipients": checked.recipients,
            "skipped_opted_out": checked.skipped_opted_out, "skipped_daily": checked.skipped_daily,
            "waiting": checked.waiting, "estimated_cost": str(cost) if cost is not None else None,
            "currency": checked.currency, "problems": checked.problems}


def history(sender: Sender, limit: int = 100) -> list[Sent]:
    """The sender's broadcasts, newest first (admins: everyone's; coordinators: those to their sites' clients)."""
    query = select(Broadcast).order_by(Broadcast.id.desc()).limit(limit)
    if sender.site_ids is not None:
        # Hers, and any other broadcast that was limited to one of her sites.
        query = query.where((Broadcast.user_id == sender.user_id) | among(Broadcast.site_id, sender.site_ids or {-1}))
    broadcasts = db.session.scalars(query).all()
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    if broadcasts:
        status = case((Message.status.in_(("queued", "sending")), "waiting"),
                      (Message.status.in_(("sent", "outbox")), "sent"), else_=Message.status)
        for broadcast_id, state, n in db.session.execute(
                select(Message.broadcast_id, status, func.count()).where(
                    among(Message.broadcast_id, [b.id for b in broadcasts])).group_by(Message.broadcast_id, status)):
            counts[broadcast_id][state] = n
    return [Sent(b, counts[b.id].get("delivered", 0), counts[b.id].get("failed", 0), counts[b.id].get("waiting", 0),
                 counts[b.id].get("sent", 0)) for b in broadcasts]
