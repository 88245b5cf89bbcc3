"""Enrolling a client and changing her details: one validated path for API, CSV, console and USSD."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import select

from gateway.core import audit, clock, fields
from gateway import i18n
from gateway.clients.sites import local_today
from gateway.core.countries import COUNTRIES, LANGUAGES
from gateway.schedules.window import reminder_hours
from gateway.core.errors import Conflict, ValidationError
from gateway.adapters.database import db
from gateway.core.fields import FieldError
from gateway.core.models import HIV_STATUSES, PROGRAMMES, Client, DoseGiven, Infant
from gateway.core.phones import PhoneError, normalise

# The version of the consent text read to clients at enrolment (docs/consent.md).
CONSENT_VERSION = "2026-11"
# Infants older than this are outside the programme's schedules.
MAX_INFANT_AGE_DAYS = 5 * 366
DEFAULT_REMINDER_HOUR = 9

ART_DAYS_SUPPLY = (7, 365)
CLINIC_NUMBER_CHARS = 30
CLINIC_NUMBER_TAKEN = "already used by another client of this site"


@dataclass
class InfantData:
    date_of_birth: dt.date
    hiv_exposed: bool = True
    name: str | None = None
    # Doses and tests already given before enrolment: the schedule's name -> the date given.
    doses_given: dict[str, dt.date] = field(default_factory=dict)
    # "Up to date at enrolment": everything due before this date counts as given (dates not recorded).
    up_to_date_on: dt.date | None = None


@dataclass
class EnrolmentData:
    """A checked enrolment: every value is typed, every phone normalised."""

    phone: str
    country: str
    language: str
    name: str | None = None
    site_id: int | None = None
    clinic_number: str | None = None
    programme: str | None = None
    reminder_hour: int = DEFAULT_REMINDER_HOUR
    art_last_dispensed: dt.date | None = None
    art_days_supply: int | None = None
    art_started: dt.date | None = None
    expected_delivery_date: dt.date | None = None
    consent_version: str = CONSENT_VERSION
    infants: list[InfantData] = field(default_factory=list)
    # False: the coordinator held the welcome SMS back (a shared phone; "don't text now").
    welcome_sms: bool = True
    hiv_status: str = "unknown"
    # A register's closed clients (CSV ``status``, ``closed_reason``): enrolled closed, as of the day of import.
    status: str = "active"
    closed_reason: str | None = None


class _Checker:
    """Collects one reason per field, so a caller sees every problem at once."""

    def __init__(self) -> None:
        self.errors: dict[str, str] = {}

    def __call__(self, name: str, reader, *args, **kwargs):
        try:
            return reader(*args, **kwargs)
        except (FieldError, PhoneError) as exc:
            self.errors.setdefault(name, str(exc))
            return None

    def fail(self, name: str, reason: str) -> None:
        self.errors.setdefault(name, reason)

    country: str | None = None

    def schedule_names(self, exposed: bool) -> set[str] | None:
        """The dose and test names of a child's schedule in the country being enrolled in (None: unknown yet)."""
        if self.country is None:
            return None
        from gateway.schedules import schedule_for

        return {d.name for d in schedule_for(self.country).doses if exposed or not d.hiv_exposed_only}


def _country(value: Any) -> str:
    code = fields.text(value, 2, required=True).upper()
    if code not in COUNTRIES:
        raise FieldError(f"unknown or unsupported country {code!r} (use an ISO code such as ZA, KE, MW)")
    return code


def _phone(value: Any, country: str) -> str:
    if value is not None and not isinstance(value, str):
        raise FieldError('must be text, e.g. "082 123 4567" (a number loses its leading 0)')
    return normalise(value, country)


def _language(value: Any, country: str | None) -> str:
    lang = fields.text(value, 8)
    offered = i18n.offered_languages()
    if lang is None:
        default = COUNTRIES[country].language if country else "en"
        return default if default in offered else "en"
    lang = lang.lower()
    if lang not in offered:
        known = "not offered yet: its translation is incomplete" if lang in LANGUAGES else "unsupported"
        raise FieldError(f"{known} ({lang!r}; offered: {', '.join(offered)})")
    return lang


_choice = fields.choice


def clinic_number(value: Any) -> str | None:
    """Her clinic file number as the clinic writes it (``KH-2024/0153``): trimmed, printable, short."""
    number = fields.text(value, CLINIC_NUMBER_CHARS)
    if number is not None and not number.isprintable():
        raise FieldError("must be printable characters only (letters, digits, spaces, - / .)")
    return number


def clinic_number_taken(number: str | None, site_id: int | None, client_id: int | None = None) -> bool:
    """Whether another client of this site has this clinic file number (without a site or number: never)."""
    if number is None or site_id is None:
        return False
    query = select(Client.id).where(Client.clinic_number == number, Client.site_id == site_id)
    if client_id is not None:
        query = query.where(Client.id != client_id)
    return db.session.scalar(query.limit(1)) is not None


def parse_enrolment(data: Any, default_country: str) -> EnrolmentData:
    """Check an enrolment request (the JSON API's body shape); raise ValidationError naming each bad field."""
    if not isinstance(data, Mapping):
        raise ValidationError("the body must be a JSON object", {"body": "must be a JSON object"})
    check = _Checker()
    known = {"phone", "country", "language", "name", "site_id", "programme", "reminder_hour", "art", "infants",
             "expected_delivery_date", "consent_version", "clinic_number", "welcome_sms", "consent", "hiv_status"}
    for key in data:
        if key not in known:
            check.fail(str(key)[:40], "unknown field")
    raw_country = data.get("country")  # absent, null or "": the default; a false or 0 is refused, not defaulted
    country = check("country", _country, default_country if raw_country is None or raw_country == "" else raw_country)
    phone = check("phone", _phone, data.get("phone"), country or default_country)
    language = check("language", _language, data.get("language"), country)
    name = check("name", fields.text, data.get("name"), 120)
    site_id = check("site_id", fields.integer, data.get("site_id"), 1, fields.MAX_ID)
    number = check("clinic_number", clinic_number, data.get("clinic_number"))
    programme = check("programme", _choice, data.get("programme"), PROGRAMMES)
    hour = check("reminder_hour", fields.integer, data.get("reminder_hour"), *reminder_hours())
    consent_version = check("consent_version", fields.text, data.get("consent_version"), 32)
    welcome_sms = check("welcome_sms", fields.boolean, data.get("welcome_sms"), default=True)
    today = local_today(country) if country else clock.today_utc()
    check.country = country
    edd = check("expected_delivery_date", fields.date, data.get("expected_delivery_date"))
    if edd and not today - dt.timedelta(days=60) <= edd <= today + dt.timedelta(days=300):
        check.fail("expected_delivery_date", "must be within the next 10 months")

    art_last = art_days = art_started = None
    art = data.get("art")
    if art is not None:
        if not isinstance(art, Mapping):
            check.fail("art", "must be an object with last_dispensed and days_supply")
        else:
            art_last = check("art.last_dispensed", fields.date, art.get("last_dispensed"), required=True)
            art_days = check("art.days_supply", fields.integer, art.get("days_supply"), *ART_DAYS_SUPPLY, required=True)
            if art_last and art_last > today:
                check.fail("art.last_dispensed", "must not be in the future")
            elif art_last and art_last < today - dt.timedelta(days=400):
                check.fail("art.last_dispensed", "is more than a year ago")
            art_started = check("art.started", fields.date, art.get("started"))
            if art_started and art_last and art_started > art_last:
                check.fail("art.started", "is after the last dispensing")

    infants: list[InfantData] = []
    raw_infants = data.get("infants")
    if raw_infants is not None and not isinstance(raw_infants, list):
        check.fail("infants", "must be a list")
    elif raw_infants:
        if len(raw_infants) > 8:
            check.fail("infants", "at most 8 infants per client")
        for i, raw in enumerate(raw_infants[:8]):
            infant = _infant(check, f"infants[{i}]", raw, today)
            if infant:
                infants.append(infant)

    consent = check("consent", fields.boolean, data.get("consent"))
    if consent is not True and "consent" not in check.errors:
        check.fail("consent", "is required: enrol her only once she has agreed (true)")
    hiv_status = check("hiv_status", fields.choice, data.get("hiv_status"), HIV_STATUSES)
    hiv_status = hiv_status_of(check, hiv_status, bool(art_last), any(i.hiv_exposed for i in infants))

    if check.errors:
        raise ValidationError("some fields are not valid", check.errors)
    return EnrolmentData(
        phone=phone, hiv_status=hiv_status, country=country, language=language, name=name, site_id=site_id, clinic_number=number,
        programme=programme or ("mother" if infants else "art" if art_last else None),
        reminder_hour=hour or DEFAULT_REMINDER_HOUR, art_last_dispensed=art_last, art_days_supply=art_days,
        art_started=art_started,
        expected_delivery_date=edd, consent_version=consent_version or CONSENT_VERSION, infants=infants,
        welcome_sms=welcome_sms is not False,
    )


def hiv_status_of(check: _Checker, given: str | None, on_art: bool, exposed_infant: bool) -> str:
    """Her HIV status at enrolment: as given; else ``positive`` when she is on ART or has an HIV-exposed
    infant, ``unknown`` otherwise. A ``negative`` client on ART or with an exposed infant is refused."""
    if given == "negative" and (on_art or exposed_infant):
        check.fail("hiv_status", "cannot be negative for a client on ART or with an HIV-exposed infant")
    if given:
        return given
    return "positive" if on_art or exposed_infant else "unknown"


def _infant(check: _Checker, where: str, raw: Any, today: dt.date) -> InfantData | None:
    if not isinstance(raw, Mapping):
        check.fail(where, "must be an object with date_of_birth")
        return None
    for key in set(raw) - {"date_of_birth", "hiv_exposed", "name", "doses_given", "up_to_date"}:
        check.fail(f"{where}.{str(key)[:40]}", "unknown field")
    dob = check(f"{where}.date_of_birth", fields.date, raw.get("date_of_birth"), required=True)
    if dob and dob > today:
        check.fail(f"{where}.date_of_birth", "must not be in the future")
    elif dob and (today - dob).days > MAX_INFANT_AGE_DAYS:
        check.fail(f"{where}.date_of_birth", "is more than 5 years ago")
    exposed = check(f"{where}.hiv_exposed", fields.boolean, raw.get("hiv_exposed"), default=True)
    name = check(f"{where}.name", fields.text, raw.get("name"), 120)
    up_to_date = check(f"{where}.up_to_date", fields.boolean, raw.get("up_to_date"), default=False)
    given = _doses_given(check, f"{where}.doses_given", raw.get("doses_given"), dob, exposed, today)
    if check.errors:
        return None
    return InfantData(date_of_birth=dob, hiv_exposed=exposed, name=name, doses_given=given,
                      up_to_date_on=today if up_to_date else None)


def _doses_given(check: _Checker, where: str, raw: Any, dob: dt.date | None, exposed: bool | None,
                 today: dt.date) -> dict[str, dt.date]:
    """``{"OPV1": "2026-01-10", ...}``: doses of the child's schedule given before enrolment, each on a date
    between its birth and today (the schedule of the country she is enrolled in)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        check.fail(where, 'must be an object of dose names and dates, e.g. {"OPV1": "2026-01-10"}')
        return {}
    names = check.schedule_names(exposed is not False)
    given: dict[str, dt.date] = {}
    for name, value in raw.items():
        at = f"{where}.{str(name)[:60]}"
        if names is not None and name not in names:
            check.fail(at, f"is not in this child's schedule ({', '.join(sorted(names))})")
            continue
        day = check(at, fields.date, value, required=True)
        if day and day > today:
            check.fail(at, "must not be in the future")
        elif day and dob and day < dob:
            check.fail(at, "is before the date of birth")
        elif day:
            given[name] = day
    return given


def enrol(data: EnrolmentData, actor: str) -> Client:
    """Create the client and her infants, audited, and queue her welcome SMS unless it was held back,
    in the caller's transaction (not committed here)."""
    from gateway.clients import welcome

    if db.session.scalar(select(Client.id).where(Client.phone == data.phone)) is not None:
        raise Conflict("this phone number is already enrolled", {"phone": "already enrolled"})
    if clinic_number_taken(data.clinic_number, data.site_id):
        raise Conflict("this clinic number is another client's", {"clinic_number": CLINIC_NUMBER_TAKEN})
    client = build_client(data)
    db.session.add(client)
    db.session.flush()
    audit.record(actor, "client.enrolled", "client", client.id,
                 {"country": data.country, "infants": len(data.infants), "channel": actor.split(":")[0],
                  "welcome_sms": data.welcome_sms})
    if data.welcome_sms:
        welcome.queue(client)
    return client


def build_client(data: EnrolmentData) -> Client:
    now = clock.utcnow()
    return Client(
        phone=data.phone, country=data.country, language=data.language, name=data.name,
        site_id=data.site_id, clinic_number=data.clinic_number, programme=data.programme, reminder_hour=data.reminder_hour,
        art_last_dispensed=data.art_last_dispensed, art_days_supply=data.art_days_supply, art_started=data.art_started,
        expected_delivery_date=data.expected_delivery_date, consent_at=now,
        consent_version=data.consent_version, hiv_status=data.hiv_status, status=data.status,
        closed_reason=data.closed_reason, closed_on=local_today(data.country) if data.status == "closed" else None,
        opted_out=False, pin_failures=0, explicit_wording=False,
        infants=[Infant(date_of_birth=i.date_of_birth, hiv_exposed=i.hiv_exposed, name=i.name,
                        up_to_date_on=i.up_to_date_on,
                        doses=[DoseGiven(dose=dose, given_on=day) for dose, day in i.doses_given.items()])
                 for i in data.infants],
    )


# Fields a PATCH may change, and how each is read.
def parse_changes(data: Any, client: Client) -> dict[str, Any]:
    """Check a PATCH body against the client; return ``{column: new value}``."""
    if not isinstance(data, Mapping) or not data:
        raise ValidationError("the body must be a JSON object with the fields to change",
                              {"body": "must be a non-empty JSON object"})
    check = _Checker()
    changes: dict[str, Any] = {}
    for key, value in data.items():
        if key == "language":
            if isinstance(value, str) and value.strip().lower() == client.language:
                changes["language"] = client.language  # kept as it is, even if no longer offered
            else:
                changes["language"] = check(key, _language, value if value is not None else "", None)
            if value in (None, ""):
                check.fail(key, "is required")
        elif key == "phone":
            changes["phone"] = check(key, _phone, value, client.country)
        elif key == "reminder_hour":
            changes["reminder_hour"] = check(key, fields.integer, value, *reminder_hours(), required=True)
        elif key == "opted_out":
            if not isinstance(value, bool):
                check.fail(key, "must be true or false")
            changes["opted_out"] = value
        elif key == "name":
            changes["name"] = check(key, fields.text, value, 120)
        elif key == "site_id":
            changes["site_id"] = check(key, fields.integer, value, 1, fields.MAX_ID)
        elif key == "clinic_number":
            changes["clinic_number"] = check(key, clinic_number, value)
        else:
            check.fail(str(key)[:40], "unknown field or not changeable here")
    if check.errors:
        raise ValidationError("some fields are not valid", check.errors)
    return changes


def update(client: Client, changes: dict[str, Any], actor: str) -> dict[str, list[Any]]:
    """Apply checked changes, audited, in the caller's transaction. Returns what changed."""
    if "phone" in changes and changes["phone"] != client.phone:
        taken = db.session.scalar(select(Client.id).where(Client.phone == changes["phone"], Client.id != client.id))
        if taken is not None:
            raise Conflict("another client is enrolled with this phone number", {"phone": "already enrolled"})
    if ("clinic_number" in changes or "site_id" in changes) and clinic_number_taken(
            changes.get("clinic_number", client.clinic_number), changes.get("site_id", client.site_id), client.id):
        raise Conflict("this clinic number is another client's at this site", {"clinic_number": CLINIC_NUMBER_TAKEN})
    before = {k: getattr(client, k) for k in changes}
    for key, value in changes.items():
        setattr(client, key, value)
    if "opted_out" in changes and changes["opted_out"] != before["opted_out"]:
        client.opted_out_at = clock.utcnow() if changes["opted_out"] else None
    changed = audit.diff(before, changes)
    if changed:
        audit.record(actor, "client.updated", "client", client.id, changed)
    return changed


def to_json(client: Client) -> dict[str, Any]:
    """The client as the API shows it."""
    def iso(value):
        return value.isoformat() if value else None

    from gateway.schedules import art_days_late, art_next_pickup, art_status, schedule_for

    art = None
    if client.art_last_dispensed and client.art_days_supply:
        next_pickup = art_next_pickup(client.art_last_dispensed, client.art_days_supply, client.art_next_visit)
        today = local_today(client.country)
        art = {"last_dispensed": iso(client.art_last_dispensed), "days_supply": client.art_days_supply,
               "started": iso(client.art_started),
               "next_pickup": iso(next_pickup),
               **({"next_visit": iso(client.art_next_visit)} if client.art_next_visit else {}),
               # Computed when read, from today's date and the country's thresholds (schedules.md).
               "status": art_status(next_pickup, today, schedule_for(client.country).thresholds),
               "days_late": art_days_late(next_pickup, today)}
    return {
        "id": client.id,
        "phone": client.phone,
        "country": client.country,
        "language": client.language,
        "name": client.name,
        "site_id": client.site_id,
        "clinic_number": client.clinic_number,
        "programme": client.programme,
        "reminder_hour": client.reminder_hour,
        "opted_out": client.opted_out,
        "opted_out_at": iso(client.opted_out_at),
        "consent_at": iso(client.consent_at),
        "consent_version": client.consent_version,
        "expected_delivery_date": iso(client.expected_delivery_date),
        "hiv_status": client.hiv_status,
        "status": client.status,
        "closed_reason": client.closed_reason,
        "closed_on": iso(client.closed_on),
        "art": art,
        "infants": [
            {"id": i.id, "name": i.name, "date_of_birth": iso(i.date_of_birth), "hiv_exposed": i.hiv_exposed,
             "breastfeeding_ended_on": iso(i.breastfeeding_ended_on), "status": i.status,
             "closed_reason": i.closed_reason, "closed_on": iso(i.closed_on), "hiv_result": i.hiv_result,
             "needs_art": i.hiv_result == "positive",
             "art": ({"last_dispensed": iso(i.art_last_dispensed), "days_supply": i.art_days_supply,
                      "next_pickup": iso(art_next_pickup(i.art_last_dispensed, i.art_days_supply))}
                     if i.art_last_dispensed and i.art_days_supply else None),
             **({"up_to_date_on": iso(i.up_to_date_on)} if i.up_to_date_on else {})}
            for i in client.infants
        ],
        "created_at": iso(client.created_at),
    }
