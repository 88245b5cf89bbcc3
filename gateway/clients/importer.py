"""Bulk enrolment from CSV, streamed: rows are read, checked and inserted a batch at a time.

Each good row goes through the same ``parse_enrolment`` as the JSON API.
A batch is one transaction: it is written whole or not at all. Phones that
are already enrolled (a re-run of the same file, or a repeat inside it) are
skipped, so importing a file twice creates no duplicates.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import re
from dataclasses import dataclass, field
from typing import IO, Callable, Iterator

from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from gateway.core import clock, fields
from gateway.adapters.bulk import bulk_insert
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from gateway.core.fields import FieldError
from gateway.core.models import CLIENT_CLOSE_REASONS, CLIENT_STATUSES, AuditEntry, Client, DoseGiven, Infant, Site
from gateway.clients import transfers
from gateway.clients.enrolment import CLINIC_NUMBER_TAKEN, EnrolmentData, build_client, parse_enrolment

# CSV columns, in the order the template lists them. `phone` and `consent` are required (a row whose
# consent is not yes is refused, naming consent: she is enrolled only once she has agreed).
COLUMNS = (
    "phone", "consent", "country", "language", "name", "clinic_number", "programme", "reminder_hour",
    "hiv_status", "art_last_dispensed", "art_days_supply", "art_started", "expected_delivery_date",
    "infant_date_of_birth", "infant_hiv_exposed", "infant_name", "infant_up_to_date", "infant_doses_given", "status", "closed_reason",
    "welcome_sms",
)
# Columns read and left aside: the reason a refused-rows file adds, so it can be corrected and uploaded again.
IGNORED_COLUMNS = ("reason",)
DATE_COLUMNS = ("art_last_dispensed", "expected_delivery_date", "infant_date_of_birth")
# DD/MM/YYYY (what Excel writes in these countries), read in CSV files only; the API takes YYYY-MM-DD.
_DAY_MONTH_YEAR = re.compile(r"\s*(\d{1,2})/(\d{1,2})/(\d{4})\s*")
MAX_FIELD_CHARS = 1000
REPORT_LIMIT = 1000  # refused rows kept in the returned report; all go to on_refused

csv.field_size_limit(MAX_FIELD_CHARS)


class CsvFileError(ValidationError):
    """The file as a whole cannot be read (no header, unknown columns): nothing was imported."""


@dataclass
class ImportReport:
    rows: int = 0
    imported: int = 0
    skipped: int = 0  # already enrolled: not an error, nothing changed
    pending_approval: int = 0  # sent to an admin (a coordinator's row for a number she may not see)
    refused: list[dict] = field(default_factory=list)
    refused_count: int = 0

    def to_json(self) -> dict:
        return {"rows": self.rows, "imported": self.imported, "skipped": self.skipped,
                "pending_approval": self.pending_approval,
                "refused_count": self.refused_count, "refused": self.refused,
                "refused_truncated": self.refused_count > len(self.refused)}


class _Lines:
    """Decodes a byte stream line by line, remembering which physical lines were not UTF-8."""

    def __init__(self, stream: IO[bytes]):
        self.stream = stream
        self.number = 0
        self.bad: set[int] = set()
        self.bytes_read = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.stream:
            self.number += 1
            self.bytes_read += len(raw)
            if self.number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8):]
            try:
                yield raw.decode("utf-8")
            except UnicodeDecodeError:
                self.bad.add(self.number)
                yield raw.decode("utf-8", errors="replace")


def _iso_date(text: str) -> str:
    """A date as the CSV may write it: DD/MM/YYYY becomes YYYY-MM-DD; anything else (31/02/2025 too) is left
    as written, for the parser to refuse naming the column and quoting it."""
    match = _DAY_MONTH_YEAR.fullmatch(text)
    if match is None:
        return text
    day, month, year = (int(part) for part in match.groups())
    try:
        return dt.date(year, month, day).isoformat()
    except ValueError:
        return text


def _doses(text: str) -> dict | str:
    """``OPV1=2026-01-10; BCG=10/12/2025``: dose names and dates (the API's ``doses_given``); unreadable: the text."""
    doses = {}
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        name, sep, day = part.partition("=")
        if not sep or not name.strip():
            return text
        doses[name.strip()] = _iso_date(day.strip())
    return doses


def _row_to_body(row: dict[str, str]) -> dict:
    """A CSV row in the JSON API's body shape, so one parser checks both."""
    row = {k: _iso_date(v) if k in DATE_COLUMNS and v else v for k, v in row.items()}
    body: dict = {k: row[k] for k in ("phone", "country", "language", "name", "clinic_number", "programme",
                                      "expected_delivery_date", "hiv_status", "consent") if row.get(k)}
    if row.get("reminder_hour"):
        body["reminder_hour"] = row["reminder_hour"]
    if row.get("welcome_sms"):  # yes / no; empty: yes
        body["welcome_sms"] = row["welcome_sms"]
    if row.get("art_last_dispensed") or row.get("art_days_supply") or row.get("art_started"):
        body["art"] = {"last_dispensed": row.get("art_last_dispensed"), "days_supply": row.get("art_days_supply"),
                       "started": row.get("art_started") or None}
    if any(row.get(k) for k in ("infant_date_of_birth", "infant_hiv_exposed", "infant_name", "infant_up_to_date",
                                "infant_doses_given")):
        infant = {"date_of_birth": row.get("infant_date_of_birth"), "hiv_exposed": row.get("infant_hiv_exposed") or None,
                  "name": row.get("infant_name") or None}
        if row.get("infant_up_to_date"):
            infant["up_to_date"] = row["infant_up_to_date"]
        if row.get("infant_doses_given"):
            infant["doses_given"] = _doses(row["infant_doses_given"])
        body["infants"] = [infant]
    return body


def _closing(row: dict[str, str]) -> tuple[str, str | None, dict[str, str]]:
    """A register row's ``status`` (default active) and ``closed_reason`` (required when closed, else none)."""
    problems: dict[str, str] = {}
    status = reason = None
    for name, allowed in (("status", CLIENT_STATUSES), ("closed_reason", CLIENT_CLOSE_REASONS)):
        try:
            value = fields.choice(row.get(name), allowed)
        except FieldError as exc:
            problems[name] = str(exc)
            continue
        status, reason = (value, reason) if name == "status" else (status, value)
    if status == "closed" and reason is None and "closed_reason" not in problems:
        problems["closed_reason"] = "is required for a closed client"
    elif reason is not None and status != "closed":
        problems["closed_reason"] = "only for a closed client (status closed)"
    return status or "active", reason, problems


def _reason(exc: ValidationError) -> str:
    """One line naming every bad field, with CSV column names for nested API fields."""
    names = {"art.last_dispensed": "art_last_dispensed", "art.days_supply": "art_days_supply", "art.started": "art_started",
             "infants[0].date_of_birth": "infant_date_of_birth", "infants[0].hiv_exposed": "infant_hiv_exposed",
             "infants[0].name": "infant_name", "infants[0].up_to_date": "infant_up_to_date",
             "infants[0].doses_given": "infant_doses_given"}

    def column(key: str) -> str:
        prefix = "infants[0].doses_given."
        return f"infant_doses_given {key[len(prefix):]}" if key.startswith(prefix) else names.get(key, key)

    def reason(key: str, text: str) -> str:
        if key == "infants[0].doses_given":  # the API's words are about JSON; the CSV's cell is written otherwise
            return "write NAME=DATE pairs separated by ';', e.g. OPV1=2026-01-10; BCG=01/12/2025"
        return text
    return "; ".join(f"{column(k)}: {reason(k, v)}" for k, v in exc.fields.items()) or exc.message


def import_csv(stream: IO[bytes], *, default_country: str, actor: str, site_id: int | None = None,
               batch_size: int = 1000, progress: Callable[[int], None] | None = None,
               refused_csv: IO[str] | None = None,
               visible_sites: frozenset[int] | None = None) -> ImportReport:
    """Import clients from a CSV byte stream. ``progress`` gets the bytes read so far after each batch.

    Every refused row goes to ``refused_csv`` whole, as it was written (its own columns, in the file's
    order) with a last ``reason`` column: corrected, the file can be uploaded again as it is (the
    importer reads a ``reason`` column and leaves it aside). The returned report keeps the first
    REPORT_LIMIT refused rows, each with its line, reason and values.

    ``visible_sites``: the sites a coordinator importing sees (None: an admin, who sees every client). A row
    whose number is enrolled at another site is not skipped but sent to an admin as a transfer request
    (``transfers``) and counted in ``pending_approval``, so the report never tells her it is enrolled.
    """
    lines = _Lines(stream)
    reader = csv.reader(lines, strict=True)
    report = ImportReport()
    names: list[str] = []
    writer = csv.writer(refused_csv) if refused_csv is not None else None

    def refuse(line: int, reason: str, values: list[str] | None = None) -> None:
        values = list(values or [])
        report.refused_count += 1
        if len(report.refused) < REPORT_LIMIT:
            report.refused.append({"line": line, "reason": reason, "row": dict(zip(names, values))})
        if writer is not None:
            kept = values[:len(names)] + [""] * (len(names) - len(values))
            writer.writerow(kept + [reason])

    try:
        header = next(reader)
    except StopIteration:
        raise CsvFileError("the file is empty", {"file": "is empty; the first line must name the columns"}) from None
    except csv.Error as exc:
        raise CsvFileError("the header line cannot be read", {"line 1": str(exc)}) from None
    if 1 in lines.bad:
        raise CsvFileError("the file is not UTF-8 text", {"line 1": "is not valid UTF-8 text"})
    names = [h for h, key in zip(header, (h.strip().lower() for h in header)) if key not in IGNORED_COLUMNS]
    header = [h.strip().lower() for h in header]
    unknown = [h for h in header if h not in COLUMNS + IGNORED_COLUMNS]
    if unknown:
        raise CsvFileError("unknown columns", {"header": f"unknown column {unknown[0]!r}; columns are {', '.join(COLUMNS)}"})
    if "phone" not in header:
        raise CsvFileError("no phone column", {"header": "must have a 'phone' column"})
    if len(set(header)) != len(header):
        raise CsvFileError("a column is repeated", {"header": "names a column twice"})
    kept_columns = [i for i, h in enumerate(header) if h not in IGNORED_COLUMNS]
    if writer is not None:
        writer.writerow(names + ["reason"])

    batch: list[tuple[int, EnrolmentData, list[str]]] = []
    last_line = 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            last_line = reader.line_num
            report.rows += 1
            refuse(last_line, f"cannot be read as CSV: {exc}")
            continue
        first_line, last_line = last_line + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue  # blank line
        report.rows += 1
        own = [values[i] for i in kept_columns if i < len(values)]  # as written, without an earlier reason
        if any(n in lines.bad for n in range(first_line, last_line + 1)):
            refuse(first_line, "is not valid UTF-8 text (save the file as CSV UTF-8)", own)
            continue
        if len(values) != len(header):
            refuse(first_line, f"has {len(values)} values but the header names {len(header)} columns", values)
            continue
        row = {k: v for k, v in zip(header, values) if k not in IGNORED_COLUMNS}
        status, reason, problems = _closing(row)
        try:
            data = parse_enrolment(_row_to_body(row), default_country)
        except ValidationError as exc:
            refuse(first_line, _reason(ValidationError(exc.message, {**exc.fields, **problems})), own)
            continue
        if problems:
            refuse(first_line, _reason(ValidationError("some fields are not valid", problems)), own)
            continue
        data.status, data.closed_reason = status, reason
        data.site_id = site_id
        batch.append((first_line, data, own))
        if len(batch) >= batch_size:
            _write_batch(batch, report, actor, refuse, visible_sites)
            batch = []
            if progress:
                progress(lines.bytes_read)
    if batch:
        _write_batch(batch, report, actor, refuse, visible_sites)
    if progress:
        progress(lines.bytes_read)
    return report


def _write_batch(batch: list[tuple[int, EnrolmentData, list[str]]], report: ImportReport, actor: str,
                 refuse: Callable[[int, str, list[str]], None], visible_sites: frozenset[int] | None = None) -> None:
    """Insert one batch in one transaction; phones already enrolled are skipped, a clinic number already used
    at the site (or earlier in the file) refuses its row."""
    for attempt in range(3):
        phones = {data.phone for _, data, _ in batch}
        existing = {phone: (client_id, site) for phone, client_id, site in db.session.execute(
            select(Client.phone, Client.id, Client.site_id).where(Client.phone.in_(phones)))}
        numbers = {data.clinic_number for _, data, _ in batch if data.clinic_number}
        used = {(number, site) for number, site in db.session.execute(
            select(Client.clinic_number, Client.site_id).where(Client.clinic_number.in_(numbers)))} if numbers else set()
        fresh: dict[str, EnrolmentData] = {}
        taken: list[tuple[int, list[str]]] = []
        elsewhere: dict[str, tuple[int, int | None]] = {}  # phone -> (client id, the site asked for)
        for line, data, values in batch:
            held = existing.get(data.phone)
            if held is not None and visible_sites is not None and held[1] not in visible_sites:
                # Enrolled at a site she does not see: answered as any request waiting for an admin.
                if data.clinic_number and data.site_id is not None and (data.clinic_number, data.site_id) in used:
                    taken.append((line, values))
                elif data.phone not in elsewhere:
                    elsewhere[data.phone] = (held[0], data.site_id)
                continue
            if held is not None or data.phone in fresh:
                continue
            if data.clinic_number and data.site_id is not None:
                if (data.clinic_number, data.site_id) in used:
                    taken.append((line, values))
                    continue
                used.add((data.clinic_number, data.site_id))
            fresh[data.phone] = data
        try:
            _insert(list(fresh.values()), actor)
            for client_id, site in elsewhere.values():
                transfers.request_transfer(db.session.get(Client, client_id), site, actor)
            db.session.commit()
        except IntegrityError:
            # Another process enrolled one of these phones (or clinic numbers) between
            # our check and our insert: look again and retry the batch.
            db.session.rollback()
            continue
        report.imported += len(fresh)
        report.pending_approval += len(elsewhere)
        report.skipped += len(batch) - len(fresh) - len(taken) - len(elsewhere)
        for line, values in taken:
            refuse(line, f"clinic_number: {CLINIC_NUMBER_TAKEN}", values)
        return
    raise RuntimeError("the batch kept colliding with concurrent enrolments")


def _insert(items: list[EnrolmentData], actor: str) -> None:
    """Insert a batch's clients, infants and audit entries in bulk (no ORM objects, no per-row events)."""
    if not items:
        return
    now = clock.utcnow()
    clients = Client.__table__
    bulk_insert(clients, [_client_row(build_client(data), now) for data in items])
    # Phones are unique: read the new ids back by phone (cheaper than RETURNING from an executemany).
    ids = dict(db.session.execute(select(clients.c.phone, clients.c.id)
                                  .where(clients.c.phone.in_([d.phone for d in items]))).all())
    infants = [
        {"client_id": ids[d.phone], "date_of_birth": i.date_of_birth, "hiv_exposed": i.hiv_exposed, "name": i.name,
         "breastfeeding_ended_on": None, "up_to_date_on": i.up_to_date_on, "created_at": now, "updated_at": now}
        for d in items for i in d.infants
    ]
    bulk_insert(Infant.__table__, infants)
    with_doses = [d for d in items if any(i.doses_given for i in d.infants)]
    if with_doses:  # a CSV row has one infant: her new infant is her only one
        table = Infant.__table__
        infant_ids = dict(db.session.execute(select(table.c.client_id, table.c.id).where(
            table.c.client_id.in_([ids[d.phone] for d in with_doses]))).all())
        bulk_insert(DoseGiven.__table__, [
            {"infant_id": infant_ids[ids[d.phone]], "dose": dose, "given_on": day, "created_at": now, "updated_at": now}
            for d in with_doses for i in d.infants for dose, day in i.doses_given.items()])
    db.session.execute(insert(AuditEntry.__table__), [
        {"at": now, "actor": actor, "action": "client.enrolled", "entity": "client", "entity_id": ids[d.phone],
         "changes": {"country": d.country, "infants": len(d.infants), "channel": "csv", "welcome_sms": d.welcome_sms}}
        for d in items
    ])
    _queue_welcomes([d for d in items if d.welcome_sms], ids, now)


def _queue_welcomes(items: list[EnrolmentData], ids: dict[str, int], now) -> None:
    """The welcome SMS of a batch's new clients, each in her own zone's send window."""
    from gateway.clients import welcome

    for site_id in {d.site_id for d in items}:
        site = db.session.get(Site, site_id) if site_id is not None else None
        welcome.queue_many([welcome.NewClient(ids[d.phone], d.phone, d.language, d.country)
                            for d in items if d.site_id == site_id], site.timezone if site else None, now)


def _client_row(client: Client, now) -> dict:
    """The column values of a client built by ``build_client``, every column present.

    Every row of a batch has the same keys, so the batch is one executemany.
    A column the builder left unset takes its default (as the ORM would give
    it), else NULL. Read from the instance's own dict: asking the ORM for
    unset attributes costs more than the insert.
    """
    state = vars(client)
    row = {}
    for column in _CLIENT_COLUMNS:
        value = state.get(column.key)
        if value is None and column.default is not None and column.default.is_scalar:
            value = column.default.arg
        row[column.key] = value
    return row | {"created_at": now, "updated_at": now}


_CLIENT_COLUMNS = [c for c in Client.__table__.columns if c.key != "id"]
