"""The data model: every table the gateway keeps.

Conventions (written here once):
- Datetimes are naive UTC (see ``gateway.core.clock``). Dates (``date`` columns) are
  calendar dates in the client's own country, with no time zone.
- Phone numbers are E.164 strings (``+27821234567``), made only by
  ``gateway.core.phones.normalise``.
- Status columns are short strings; the allowed values are listed next to
  each and enforced by a CHECK constraint where a wrong value would be harmful.
"""
from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.core import clock
from gateway.adapters.database import db

ROLES = ("admin", "coordinator")
PROGRAMMES = ("pregnant", "mother", "art")
# A client's HIV status, whether she is followed (docs/reminders.md: the life cycle), and why she was closed.
HIV_STATUSES = ("positive", "negative", "unknown")
CLIENT_STATUSES = ("active", "closed")
CLIENT_CLOSE_REASONS = ("transferred_out", "died", "moved_away", "declined", "other")
INFANT_CLOSE_REASONS = ("died", "transferred_out", "other")
INFANT_HIV_RESULTS = ("negative", "positive", "indeterminate")
APPOINTMENT_KINDS = ("art_refill", "infant_hiv_test", "immunisation")
APPOINTMENT_STATUSES = ("due", "done", "cancelled")
# The reminder state machine (docs/reminders.md):
#   scheduled -> queued -> sent -> delivered
#                      \-> failed        (and sent -> failed on a delivery report)
#   scheduled | queued -> cancelled      (appointment moved/closed, client opted out)
#   scheduled -> skipped                 (its moment had passed when it was made, or stale)
REMINDER_STATUSES = ("scheduled", "queued", "sent", "delivered", "failed", "cancelled", "skipped")
REMINDER_TEMPLATES = ("before", "today", "missed")
# hiv_status: her HIV status is unknown and her baby was registered over USSD (find out: is the baby exposed?).
TASK_KINDS = ("callback", "enrolment_request", "undeliverable", "missed_visit", "inbound_sms", "transfer_request",
              "hiv_status", "feeding_question")
# What a Mentor Mother found when she followed up a missed visit (docs/reminders.md, the task's life cycle).
TASK_OUTCOMES = ("reached_will_come", "reached_already_went", "not_reachable", "wrong_number", "transferred_out",
                 "died")
TASK_STATUSES = ("open", "done", "rejected")
MESSAGE_DIRECTIONS = ("out", "in")
# out: queued -> sending -> sent (accepted by AT) -> delivered | failed;
#      sending -> queued again (retry later) | failed; queued -> cancelled
#      (its reminder changed first); "outbox" when the outbox backend kept it.
# in:  received.
MESSAGE_STATUSES = ("queued", "sending", "outbox", "sent", "delivered", "failed", "cancelled", "received")
# What an outgoing message is, besides a reminder (reminder_id) or a reply (NULL): the welcome SMS sent once
# at enrolment, or one recipient's copy of a broadcast (broadcast_id).
MESSAGE_KINDS = ("welcome", "broadcast")
# Whom a broadcast goes to: the clients of one site, those with a visit due on one date, or all of the sender's.
BROADCAST_AUDIENCES = ("site", "visit_date", "all")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class TimestampMixin:
    created_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow, onupdate=clock.utcnow)


class Site(TimestampMixin, db.Model):
    """A facility or community site whose coordinators follow its clients."""

    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    timezone: Mapped[str] = mapped_column(String(64))  # IANA name, e.g. Africa/Johannesburg
    # The DHIS2 organisation unit (an 11-character uid) this site's indicators are reported as.
    dhis2_org_unit: Mapped[str | None] = mapped_column(String(11))
    # Its district, county or province, as its country's schedule file spells it: region-limited
    # doses (a malaria vaccine) are planned only for clients of sites in their regions. Optional.
    region: Mapped[str | None] = mapped_column(String(80))


user_sites = Table(
    "user_sites",
    db.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)


class User(TimestampMixin, db.Model):
    """A console / API user: an admin, or a coordinator of one or more sites."""

    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    name: Mapped[str | None] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20), default="coordinator")
    password_hash: Mapped[str | None] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # A coordinator's own phone, for the coordinator USSD menu (with a PIN).
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    ussd_pin_hash: Mapped[str | None] = mapped_column(String(255))
    # Bumped to end every console session of hers at once (sign-out, password change, deactivation):
    # each session carries the value it began with, and the sign-in loader refuses any other.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    sites: Mapped[list[Site]] = relationship(secondary=user_sites)
    tokens: Mapped[list["ApiToken"]] = relationship(back_populates="user")


class ApiToken(TimestampMixin, db.Model):
    """A bearer token for the JSON API. Only its SHA-256 is stored."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The first characters of the token, so a user can tell tokens apart.
    prefix: Mapped[str] = mapped_column(String(12))
    last_used_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    user: Mapped[User] = relationship(back_populates="tokens")


class Client(TimestampMixin, db.Model):
    """An enrolled phone number: a woman in the programme (the infants' caregiver).

    The client's own dates (ART dispensing, pregnancy) live here; appointments
    and reminders are computed from them and from her infants' dates.
    """

    __tablename__ = "clients"
    __table_args__ = (
        CheckConstraint("reminder_hour BETWEEN 0 AND 23", name="reminder_hour"),
        CheckConstraint(f"programme IS NULL OR {_in('programme', PROGRAMMES)}", name="programme"),
        # A clinic file number is unique within its site; found by exact match (console search).
        Index("uq_clients_clinic_number_site", "clinic_number", "site_id", unique=True),
        CheckConstraint(_in("hiv_status", HIV_STATUSES), name="hiv_status"),
        CheckConstraint(_in("status", CLIENT_STATUSES), name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)  # E.164
    country: Mapped[str] = mapped_column(String(2))
    language: Mapped[str] = mapped_column(String(8))  # ISO 639-1, e.g. en, pt, sw, ny, st, zu
    name: Mapped[str | None] = mapped_column(String(120))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)
    # Her file number at the clinic (optional, as the clinic writes it).
    clinic_number: Mapped[str | None] = mapped_column(String(30))
    programme: Mapped[str | None] = mapped_column(String(20))
    # Local hour (0-23, in the client's zone) at which she prefers reminders.
    reminder_hour: Mapped[int] = mapped_column(SmallInteger, default=9)
    # Explicit wording (naming the medicine or test) only when she asked for it.
    explicit_wording: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out: Mapped[bool] = mapped_column(Boolean, default=False)
    opted_out_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    consent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    consent_version: Mapped[str | None] = mapped_column(String(32))
    # ART: the last dispensing and its days of supply; next pick-up = date + days.
    art_last_dispensed: Mapped[dt.date | None] = mapped_column(Date)
    art_days_supply: Mapped[int | None] = mapped_column(SmallInteger)
    art_started: Mapped[dt.date | None] = mapped_column(Date)  # the day she started ART, when known
    # The date the clinic booked for her next pick-up (on her clinic card), when it gave one: the refill
    # is due then, not at art_last_dispensed + art_days_supply.
    art_next_visit: Mapped[dt.date | None] = mapped_column(Date)
    expected_delivery_date: Mapped[dt.date | None] = mapped_column(Date)
    ussd_pin_hash: Mapped[str | None] = mapped_column(String(255))
    pin_failures: Mapped[int] = mapped_column(SmallInteger, default=0)
    pin_locked_until: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # Set when AT refuses the number for good (403/404/406): no more sends until it changes.
    phone_flag: Mapped[str | None] = mapped_column(String(40))
    # Outgoing messages that failed in a row; reset by a delivery. N in a row -> a follow-up task.
    consecutive_failures: Mapped[int] = mapped_column(SmallInteger, default=0)
    # Reminders exist up to this local date; the daily pass plans further ahead.
    planned_through: Mapped[dt.date | None] = mapped_column(Date, index=True)
    hiv_status: Mapped[str] = mapped_column(String(10), default="unknown", server_default="unknown")
    # Closed (transferred out, died...): nothing is planned or sent to her until she is reopened.
    status: Mapped[str] = mapped_column(String(8), default="active", server_default="active")
    closed_reason: Mapped[str | None] = mapped_column(String(20))
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    # The day she was last reopened: a visit missed while she was closed is due that day, not before.
    reopened_on: Mapped[dt.date | None] = mapped_column(Date)
    site: Mapped[Site | None] = relationship()
    infants: Mapped[list["Infant"]] = relationship(back_populates="caregiver", order_by="Infant.id")
    # Planning fills this with her working rows only (appointments.working_appointments: no done refills);
    # her whole history is read with a query (appointments.schedule_json, the console).
    appointments: Mapped[list["Appointment"]] = relationship(order_by="Appointment.id")
    reminders: Mapped[list["Reminder"]] = relationship(order_by="Reminder.id")


class Infant(TimestampMixin, db.Model):
    """A child whose schedule is anchored on its date of birth; reminders go to the caregiver."""

    __tablename__ = "infants"
    __table_args__ = (
        CheckConstraint(_in("status", CLIENT_STATUSES), name="status"),
        CheckConstraint(f"hiv_result IS NULL OR {_in('hiv_result', INFANT_HIV_RESULTS)}", name="hiv_result"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    name: Mapped[str | None] = mapped_column(String(120))
    date_of_birth: Mapped[dt.date] = mapped_column(Date)
    hiv_exposed: Mapped[bool] = mapped_column(Boolean, default=True)
    breastfeeding_ended_on: Mapped[dt.date | None] = mapped_column(Date)
    # Closed (died, transferred out): its visits are cancelled and no SMS mentions it.
    status: Mapped[str] = mapped_column(String(8), default="active", server_default="active")
    closed_reason: Mapped[str | None] = mapped_column(String(20))
    closed_on: Mapped[dt.date | None] = mapped_column(Date)
    reopened_on: Mapped[dt.date | None] = mapped_column(Date)
    # The latest infant HIV test result; "positive": no more infant tests, the child needs ART.
    hiv_result: Mapped[str | None] = mapped_column(String(14))
    # The child's own ART (once positive): the last dispensing and its days of supply.
    art_last_dispensed: Mapped[dt.date | None] = mapped_column(Date)
    art_days_supply: Mapped[int | None] = mapped_column(SmallInteger)
    # "Up to date at enrolment": every dose and test due before this date was given (dates not recorded).
    up_to_date_on: Mapped[dt.date | None] = mapped_column(Date)
    caregiver: Mapped[Client] = relationship(back_populates="infants")
    doses: Mapped[list["DoseGiven"]] = relationship(order_by="DoseGiven.id")


class DoseGiven(TimestampMixin, db.Model):
    """A dose or test an infant actually received, on the date it was given."""

    __tablename__ = "doses_given"
    __table_args__ = (db.UniqueConstraint("infant_id", "dose", name="uq_doses_given_infant_dose"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    infant_id: Mapped[int] = mapped_column(ForeignKey("infants.id", ondelete="CASCADE"))
    dose: Mapped[str] = mapped_column(String(60))  # the schedule's name, e.g. OPV1, PCR 10 weeks
    given_on: Mapped[dt.date] = mapped_column(Date)
    result: Mapped[str | None] = mapped_column(String(14))  # an infant HIV test's result, once known


class Appointment(TimestampMixin, db.Model):
    """A visit the client (or her infant) is due for: a refill, a test or a dose."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint(_in("kind", APPOINTMENT_KINDS), name="kind"),
        CheckConstraint(_in("status", APPOINTMENT_STATUSES), name="status"),
        Index("ix_appointments_client_due", "client_id", "due_date"),
        Index("ix_appointments_kind_due", "kind", "due_date"),  # a month's visits of one kind (indicators)
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    infant_id: Mapped[int | None] = mapped_column(ForeignKey("infants.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(60))  # dose or test name from the schedule, e.g. OPV1
    due_date: Mapped[dt.date] = mapped_column(Date)  # local calendar date
    status: Mapped[str] = mapped_column(String(12), default="due")
    done_on: Mapped[dt.date | None] = mapped_column(Date)
    # Bumped on every move or close, so a reminder job that raced it sends nothing.
    version: Mapped[int] = mapped_column(Integer, default=1)


reminder_appointments = Table(
    "reminder_appointments",
    db.metadata,
    Column("reminder_id", ForeignKey("reminders.id", ondelete="CASCADE"), primary_key=True),
    Column("appointment_id", ForeignKey("appointments.id", ondelete="CASCADE"), primary_key=True),
)


class Reminder(TimestampMixin, db.Model):
    """One reminder SMS to one client on one local day, naming one or more appointments.

    At most one live (not cancelled) reminder per client per local day: a
    partial unique index holds that even against racing writers.
    """

    __tablename__ = "reminders"
    __table_args__ = (
        CheckConstraint(_in("status", REMINDER_STATUSES), name="status"),
        CheckConstraint(_in("template", REMINDER_TEMPLATES), name="template"),
        Index("ix_reminders_status_send_at", "status", "send_at"),
        Index("uq_reminders_client_day_live", "client_id", "send_date", unique=True,
              sqlite_where=text("status != 'cancelled'"), postgresql_where=text("status != 'cancelled'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"))
    send_date: Mapped[dt.date] = mapped_column(Date)  # the client's local date
    send_at: Mapped[dt.datetime] = mapped_column(DateTime)  # UTC moment it becomes due
    # Past this UTC moment it is skipped, not sent late (the rule's staleness cutoff).
    stale_at: Mapped[dt.datetime] = mapped_column(DateTime)
    # Which message it becomes: before / today / missed, about the visits due on due_date.
    template: Mapped[str] = mapped_column(String(10))
    due_date: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="scheduled")
    # Bumped on every change, so a send job holding an older version sends nothing.
    version: Mapped[int] = mapped_column(Integer, default=1)
    appointments: Mapped[list[Appointment]] = relationship(secondary=reminder_appointments)


class Message(TimestampMixin, db.Model):
    """Every SMS in or out, with what Africa's Talking said about it."""

    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_in("direction", MESSAGE_DIRECTIONS), name="direction"),
        CheckConstraint(_in("status", MESSAGE_STATUSES), name="status"),
        Index("ix_messages_client_created", "client_id", "created_at"),
        Index("ix_messages_status_next", "status", "next_attempt_at"),
        CheckConstraint(f"kind IS NULL OR {_in('kind', MESSAGE_KINDS)}", name="kind"),
        # One welcome SMS per client, ever: a retried enrolment or a re-run job cannot make a second.
        Index("uq_messages_welcome", "client_id", unique=True,
              sqlite_where=text("kind = 'welcome'"), postgresql_where=text("kind = 'welcome'")),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="SET NULL"))
    direction: Mapped[str] = mapped_column(String(3))
    phone: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    backend: Mapped[str] = mapped_column(String(20))  # africastalking | outbox
    provider_id: Mapped[str | None] = mapped_column(String(64), unique=True)  # AT messageId / inbound id
    status_code: Mapped[int | None] = mapped_column(SmallInteger)  # AT per-recipient statusCode
    cost_amount: Mapped[float | None] = mapped_column(Numeric(12, 4))
    cost_currency: Mapped[str | None] = mapped_column(String(3))
    failure_reason: Mapped[str | None] = mapped_column(String(64))
    sent_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    delivered_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    # The reminder this message carries, and the reminder's version when it was made.
    reminder_id: Mapped[int | None] = mapped_column(ForeignKey("reminders.id", ondelete="SET NULL"), index=True)
    reminder_version: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0)
    next_attempt_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # UTC; None: as soon as possible
    enqueued_at: Mapped[dt.datetime | None] = mapped_column(DateTime)  # last time a send job was queued
    sending_started_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    last_error: Mapped[str | None] = mapped_column(String(255))
    kind: Mapped[str | None] = mapped_column(String(10))  # MESSAGE_KINDS, or NULL (a reminder, a reply)
    broadcast_id: Mapped[int | None] = mapped_column(ForeignKey("broadcasts.id", ondelete="SET NULL"), index=True)


class Broadcast(TimestampMixin, db.Model):
    """One message an admin or coordinator wrote to a set of clients; each recipient's copy is a Message.

    The counts are what happened when it was sent (recipients, and who was left
    out and why); delivered and failed are counted from its messages when read.
    """

    __tablename__ = "broadcasts"
    __table_args__ = (CheckConstraint(_in("audience", BROADCAST_AUDIENCES), name="audience"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    actor: Mapped[str] = mapped_column(String(64))  # the audit actor string of its sender
    text: Mapped[str] = mapped_column(Text)
    audience: Mapped[str] = mapped_column(String(12))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"), index=True)  # audience "site", or a filter
    visit_date: Mapped[dt.date | None] = mapped_column(Date)  # audience "visit_date": the local due date
    # Urgent overrides the one-SMS-a-day rule (a clinic closed tomorrow); it still keeps the send window.
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    segments: Mapped[int] = mapped_column(SmallInteger, default=1)  # SMS parts of the text
    recipients: Mapped[int] = mapped_column(Integer, default=0)  # messages made
    skipped_opted_out: Mapped[int] = mapped_column(Integer, default=0)  # opted out or number refused
    skipped_daily: Mapped[int] = mapped_column(Integer, default=0)  # already had an SMS that day (not urgent)


class AuditEntry(db.Model):
    """Who changed what, when. Written in the same transaction as the change."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_entity", "entity", "entity_id"),
        # An actor's own entries, newest last: a USSD effect's ledger is read by its caller's actor
        # (for an unknown number, the entity alone would be every task's entries).
        Index("ix_audit_actor_at", "actor", "at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow, index=True)
    # "user:<id>", "token:<id>", "cli", "ussd:<phone>", "sms:<phone>" or "system".
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(40))  # e.g. client.enrolled, client.updated
    entity: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[int | None] = mapped_column(Integer)
    changes: Mapped[dict | None] = mapped_column(JSON)  # {"field": [old, new]} or a summary


class Task(TimestampMixin, db.Model):
    """Something a person must do: call a client back, approve an enrolment, follow up a failure."""

    __tablename__ = "tasks"
    __table_args__ = (
        CheckConstraint(_in("kind", TASK_KINDS), name="kind"),
        CheckConstraint(_in("status", TASK_STATUSES), name="status"),
        Index("ix_tasks_site_status", "site_id", "status"),
        Index("ix_tasks_phone_kind", "phone", "kind"),  # a number's open requests (one enrolment request a number)
        # One task per client and visit: the periodic pass may run twice, or race, and never duplicates.
        Index("uq_tasks_client_kind_visit", "client_id", "kind", "visit_key", unique=True),
        CheckConstraint(f"outcome IS NULL OR {_in('outcome', TASK_OUTCOMES)}", name="outcome"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(10), default="open")
    client_id: Mapped[int | None] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    phone: Mapped[str] = mapped_column(String(20))  # E.164; for enrolment requests, the caller's
    details: Mapped[dict | None] = mapped_column(JSON)  # reason, consent version, failure reason...
    closed_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    closed_by: Mapped[str | None] = mapped_column(String(64))  # an audit actor string
    # The visit a missed_visit task is about: "art:<due date>" or "infant:<id>:<due date>" (several doses
    # due the same day are one visit); a feeding question's "feeding:<infant id>:<due date>". NULL otherwise.
    visit_key: Mapped[str | None] = mapped_column(String(60))
    outcome: Mapped[str | None] = mapped_column(String(30))  # one of TASK_OUTCOMES, when closed with one
    note: Mapped[str | None] = mapped_column(Text)


class Alert(TimestampMixin, db.Model):
    """An operational alert for admins; ``kind='sending_paused'`` unresolved pauses all SMS sending."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(30), index=True)  # sending_paused, spend_cap, ...
    message: Mapped[str] = mapped_column(String(255))
    resolved_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    resolved_by: Mapped[str | None] = mapped_column(String(64))


class UssdSession(TimestampMixin, db.Model):
    """How a USSD session went, from AT's end-of-session notification."""

    __tablename__ = "ussd_sessions"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(String(80), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    service_code: Mapped[str | None] = mapped_column(String(40))
    network_code: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str | None] = mapped_column(String(20))  # Incomplete | Success | Failed
    hops: Mapped[int | None] = mapped_column(Integer)
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    cost: Mapped[str | None] = mapped_column(String(30))
    error_message: Mapped[str | None] = mapped_column(String(255))
    ended_at: Mapped[dt.datetime | None] = mapped_column(DateTime)


TRANSLATION_STATES = ("draft", "reviewed")


class Translation(db.Model):
    """A text written by programme staff for one language, over the shipped catalogue (docs/translations.md).

    ``reviewed`` texts are what clients get; a ``draft`` is seen only on the console's Translations page.
    """

    __tablename__ = "translations"
    __table_args__ = (
        CheckConstraint(_in("state", TRANSLATION_STATES), name="state"),
        UniqueConstraint("language", "key"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    language: Mapped[str] = mapped_column(String(8))  # a code in countries.LANGUAGES, never "en"
    key: Mapped[str] = mapped_column(String(120))  # dotted catalogue key, e.g. sms.reminder.before
    text: Mapped[str] = mapped_column(Text)  # a list (date.months...) is stored one item a line
    state: Mapped[str] = mapped_column(String(10))
    updated_by: Mapped[str] = mapped_column(String(64))  # an audit actor string
    updated_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow, onupdate=clock.utcnow)


DHIS2_PUSH_STATUSES = ("running", "ok", "conflicts", "failed")


class Dhis2Push(db.Model):
    """One push of a month's indicators to DHIS2 (``gateway.indicators.dhis2``), with DHIS2's import summary."""

    __tablename__ = "dhis2_pushes"
    __table_args__ = (CheckConstraint(_in("status", DHIS2_PUSH_STATUSES), name="status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    period: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="SET NULL"))  # None: every site
    actor: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime, default=clock.utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime)
    status: Mapped[str] = mapped_column(String(12), default="running")
    values_sent: Mapped[int] = mapped_column(Integer, default=0)
    imported: Mapped[int | None] = mapped_column(Integer)
    updated: Mapped[int | None] = mapped_column(Integer)
    ignored: Mapped[int | None] = mapped_column(Integer)
    deleted: Mapped[int | None] = mapped_column(Integer)
    conflicts: Mapped[list | None] = mapped_column(JSON)  # [{"object", "value"}] as DHIS2 answered
    error: Mapped[str | None] = mapped_column(String(255))  # unreachable, 401, a timeout...
