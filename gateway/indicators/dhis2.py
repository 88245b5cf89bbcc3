"""DHIS2: a month's indicators sent to a DHIS2 instance as one data value set per push.

- ``load_mapping``: the YAML file (``DHIS2_MAPPING``) naming the data element (and
  optionally the category option combo) of each indicator code, checked with lines.
- ``payload``: ``{"dataValues": [...]}`` for every mapped code and every site that
  has an org unit (zeros included, so a corrected month overwrites the old number).
- ``push``: POSTs it to ``{DHIS2_URL}/api/dataValueSets`` with basic auth, reads
  DHIS2's import summary, and keeps the outcome in ``dhis2_pushes``. DHIS2 keys a
  value by data element, period, org unit and category option combo, so pushing a
  month again updates its values, never adds to them.
- ``monthly_push``: the previous month, once, on ``DHIS2_PUSH_DAY`` or after.

Nothing here logs the password. See docs/indicators.md.
"""
from __future__ import annotations

import datetime as dt
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import select
from yaml.nodes import MappingNode, ScalarNode

from gateway.core import audit, clock
from gateway import indicators
from gateway.core.config import Settings
from gateway.core.errors import GatewayError, ValidationError
from gateway.adapters.database import db
from gateway.core.fields import MAX_ID
from gateway.core.models import Dhis2Push, Site
from gateway.schedules.loader import LineReader

log = logging.getLogger(__name__)
UID = re.compile(r"[A-Za-z][A-Za-z0-9]{10}")  # DHIS2's identifiers: 11 characters, a letter first


class Dhis2Error(GatewayError):
    """A push cannot start (no URL, a bad mapping file, an unknown site): nothing was sent."""


@dataclass(frozen=True)
class Target:
    data_element: str
    category_option_combo: str | None = None


def check_uid(value: str | None, what: str) -> str | None:
    """``value`` as a DHIS2 uid (or None when empty); a ValidationError names ``what``."""
    value = (value or "").strip()
    if not value:
        return None
    if not UID.fullmatch(value):
        raise ValidationError(f"{what}: not a DHIS2 id", {what: f"{value[:20]!r} is not a DHIS2 id "
                                                                "(11 letters and digits, a letter first)"})
    return value


def set_org_unit(site: Site, org_unit: str | None, actor: str) -> bool:
    """Set or clear a site's org unit (audited); False when nothing changed. ValidationError names ``org_unit``."""
    org_unit = check_uid(org_unit, "org_unit")
    if org_unit == site.dhis2_org_unit:
        return False
    audit.record(actor, "site.updated", "site", site.id, {"dhis2_org_unit": [site.dhis2_org_unit, org_unit]})
    site.dhis2_org_unit = org_unit
    return True


def load_mapping(path: str | Path | None) -> dict[str, Target]:
    """Read the mapping file: ``{"data_elements": {code: uid | {data_element, category_option_combo}}}``."""
    if not path:
        raise Dhis2Error("DHIS2_MAPPING is not set: name the YAML file that maps indicator codes to data elements",
                         {"DHIS2_MAPPING": "is not set"})
    path = Path(path)
    if not path.is_file():
        raise Dhis2Error(f"DHIS2_MAPPING: no such file {path}", {"DHIS2_MAPPING": f"no such file {path}"})
    reader = LineReader(path)
    root = reader.root(path)
    known = indicators.definitions()
    mapping: dict[str, Target] = {}
    top = reader.mapping(root, "the file", ("data_elements",)) if root is not None else None
    node = top.get("data_elements") if top else None
    if node is not None and not isinstance(node, MappingNode):
        reader.error(node, "data_elements: expected indicator codes, each with its data element")
    elif node is not None:
        for key_node, value_node in node.value:
            code = key_node.value if isinstance(key_node, ScalarNode) else None
            if code not in known:
                reader.error(key_node, f"unknown indicator code {code!r} (known: {', '.join(known)})")
                continue
            if isinstance(value_node, ScalarNode):
                data_element, combo = value_node, None
            else:
                keys = reader.mapping(value_node, code, ("data_element",), ("category_option_combo",))
                if not keys or "data_element" not in keys:
                    continue
                data_element, combo = keys["data_element"], keys.get("category_option_combo")
            uids = []
            for uid_node, what in ((data_element, "data element"), (combo, "category option combo")):
                text = uid_node.value.strip() if isinstance(uid_node, ScalarNode) else None
                if uid_node is not None and not (text and UID.fullmatch(text)):
                    reader.error(uid_node, f"{code}: {what} {text!r} is not a DHIS2 id (11 letters and digits)")
                uids.append(text if uid_node is not None else None)
            mapping[code] = Target(uids[0], uids[1])
        if not node.value:
            reader.error(node, "data_elements: map at least one indicator code")
    if reader.errors:
        raise Dhis2Error("the DHIS2 mapping file is not valid:\n" + "\n".join(reader.errors),
                         {"DHIS2_MAPPING": "; ".join(reader.errors)})
    return mapping


@dataclass
class Payload:
    period: indicators.Period
    data_values: list[dict[str, str]]
    sites: list[Site]
    skipped: list[Site]  # sites without an org unit: nothing sent for them

    def json(self) -> dict:
        return {"dataValues": self.data_values}


def payload(period: indicators.Period, mapping: dict[str, Target], site_id: int | None = None) -> Payload:
    """Every mapped indicator of every site with an org unit (or of ``site_id`` only) for ``period``."""
    if site_id is not None:
        site = db.session.get(Site, site_id) if 0 < site_id <= MAX_ID else None
        if site is None:
            raise Dhis2Error(f"--site: no site with id {site_id}", {"site": f"no site with id {site_id}"})
        if not site.dhis2_org_unit:
            raise Dhis2Error(f"--site: site {site.name} (id {site.id}) has no DHIS2 org unit",
                             {"site": "has no DHIS2 org unit"})
        sites = [site]
    else:
        sites = list(db.session.scalars(select(Site).order_by(Site.id)))
    ready = [s for s in sites if s.dhis2_org_unit]
    values = indicators.compute([period], [s.id for s in ready], codes=list(mapping)) if ready else {}
    data_values = []
    for site in ready:
        for code, target in mapping.items():
            value = {"dataElement": target.data_element, "period": period.dhis2, "orgUnit": site.dhis2_org_unit,
                     "value": str(values[code][period.label].get(site.id, 0))}
            if target.category_option_combo:
                value["categoryOptionCombo"] = target.category_option_combo
            data_values.append(value)
    return Payload(period, data_values, ready, [s for s in sites if not s.dhis2_org_unit])


@dataclass
class Summary:
    """What DHIS2 answered, or why it could not be asked."""

    status: str  # ok | conflicts | failed
    imported: int | None = None
    updated: int | None = None
    ignored: int | None = None
    deleted: int | None = None
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def describe(self) -> str:
        if self.status == "failed":
            return f"failed: {self.error}"
        text = (f"imported {self.imported}, updated {self.updated}, ignored {self.ignored}, "
                f"deleted {self.deleted}")
        if self.conflicts:
            text += f"; {len(self.conflicts)} conflict(s)"
        return text


def read_summary(answer: Any, sent: list[dict[str, str]]) -> Summary:
    """DHIS2's ImportSummary (bare, or wrapped in a WebMessage's ``response`` as 2.38+ sends it)."""
    if not isinstance(answer, dict):
        return Summary("failed", error="DHIS2 answered something that is not an import summary")
    summary = answer.get("response") if isinstance(answer.get("response"), dict) else answer
    count = summary.get("importCount")
    if not isinstance(count, dict):
        message = answer.get("message") or summary.get("description") or "no importCount in the answer"
        return Summary("failed", error=f"DHIS2: {str(message)[:200]}")
    conflicts = []
    by_uid = {}
    for value in sent:
        by_uid.setdefault(value["dataElement"], ("data_element", value["dataElement"]))
        by_uid.setdefault(value["orgUnit"], ("org_unit", value["orgUnit"]))
    for raw in summary.get("conflicts") or []:
        if not isinstance(raw, dict):
            continue
        conflict = {"object": raw.get("object"), "value": raw.get("value"), "data_element": None, "org_unit": None}
        indexes = [i for i in raw.get("indexes") or [] if isinstance(i, int) and 0 <= i < len(sent)]
        if indexes:
            conflict["data_element"] = sorted({sent[i]["dataElement"] for i in indexes})
            conflict["org_unit"] = sorted({sent[i]["orgUnit"] for i in indexes})
        elif raw.get("object") in by_uid:
            kind, uid = by_uid[raw["object"]]
            conflict[kind] = [uid]
        conflicts.append(conflict)
    status = str(summary.get("status") or "").upper()
    return Summary("conflicts" if conflicts or status == "ERROR" else "ok",
                   *(int(count.get(k) or 0) for k in ("imported", "updated", "ignored", "deleted")),
                   conflicts=conflicts)


@dataclass
class PushResult:
    payload: Payload
    summary: Summary | None  # None for a dry run
    push_id: int | None = None


def prepare(settings: Settings, period_text: str, site_id: int | None = None,
            today: dt.date | None = None) -> Payload:
    """Check everything a push needs (period, mapping, site) and build its payload; nothing is sent."""
    period = indicators.parse_period(period_text, today or clock.today_utc(), field_name="period")
    return payload(period, load_mapping(settings.dhis2_mapping), site_id)


def send(settings: Settings, body: Payload, actor: str, site_id: int | None = None,
         http: requests.Session | None = None) -> PushResult:
    """POST the payload to DHIS2, keep the outcome in ``dhis2_pushes`` (committed), and return it."""
    if not settings.dhis2_url:
        raise Dhis2Error("DHIS2_URL is not set: say where DHIS2 is", {"DHIS2_URL": "is not set"})
    row = Dhis2Push(period=body.period.label, site_id=site_id, actor=actor, status="running",
                    values_sent=len(body.data_values))
    db.session.add(row)
    db.session.commit()  # a push that dies half-way still shows on the operations page
    summary = _post(settings, body, http or requests.Session())
    row.status, row.finished_at = summary.status, clock.utcnow()
    row.imported, row.updated, row.ignored, row.deleted = (summary.imported, summary.updated, summary.ignored,
                                                           summary.deleted)
    row.conflicts, row.error = summary.conflicts or None, (summary.error or "")[:255] or None
    audit.record(actor, "dhis2.pushed", "dhis2_push", row.id,
                 {"period": row.period, "site_id": site_id, "status": row.status, "values": row.values_sent,
                  "imported": row.imported, "updated": row.updated, "ignored": row.ignored,
                  "conflicts": len(summary.conflicts), "error": row.error})
    db.session.commit()
    log.info("DHIS2 push %s for %s: %s", row.id, row.period, summary.describe())
    return PushResult(body, summary, row.id)


def _post(settings: Settings, body: Payload, http: requests.Session) -> Summary:
    url = f"{settings.dhis2_url}/api/dataValueSets"
    try:
        response = http.post(url, json=body.json(), auth=(settings.dhis2_username or "", settings.dhis2_password or ""),
                             timeout=settings.dhis2_timeout, headers={"Accept": "application/json"})
    except requests.Timeout:
        return Summary("failed", error=f"no answer from DHIS2 within {settings.dhis2_timeout} s")
    except requests.RequestException as exc:
        return Summary("failed", error=f"DHIS2 unreachable at {settings.dhis2_url} ({type(exc).__name__})")
    if response.status_code == 401:
        return Summary("failed", error="DHIS2 refused the login (401): check DHIS2_USERNAME and DHIS2_PASSWORD")
    if response.status_code == 403:
        return Summary("failed", error="DHIS2 refused (403): the user may not write data values")
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code in (200, 201, 409) and answer is not None:
        return read_summary(answer, body.data_values)  # 409: DHIS2 2.38+ answers conflicts so
    return Summary("failed", error=f"DHIS2 answered HTTP {response.status_code}")


def push(settings: Settings, period_text: str, actor: str, site_id: int | None = None,
         dry_run: bool = False, today: dt.date | None = None) -> PushResult:
    """Check, build and (unless ``dry_run``) send one month's values."""
    if not dry_run and not settings.dhis2_url:
        raise Dhis2Error("DHIS2_URL is not set: say where DHIS2 is", {"DHIS2_URL": "is not set"})
    body = prepare(settings, period_text, site_id, today)
    if dry_run:
        return PushResult(body, None)
    if not body.data_values:
        raise Dhis2Error("nothing to send: no site has a DHIS2 org unit (set one with `sites set-org-unit` "
                         "or on the console's Sites page)", {"org_unit": "no site has one"})
    return send(settings, body, actor, site_id)


def monthly_push(settings: Settings, today: dt.date | None = None) -> PushResult | None:
    """The previous month, pushed on ``DHIS2_PUSH_DAY`` or any later day until DHIS2 has answered it.

    A push DHIS2 never answered (unreachable, 401, a timeout) is tried again at the next run; one answered
    with conflicts is not (its metadata needs a person: rerun `dhis2 push` once it is fixed).

    None when there is nothing to do: DHIS2 not configured, too early in the month, or done already.
    """
    if not settings.dhis2_url:
        return None
    today = today or clock.today_utc()
    if today.day < settings.dhis2_push_day:
        return None
    period = indicators.Period(today.year, today.month).minus(1)
    done = db.session.scalar(select(Dhis2Push.id).where(Dhis2Push.period == period.label,
                                                        Dhis2Push.site_id.is_(None),
                                                        Dhis2Push.status.in_(("ok", "conflicts"))))
    if done is not None:
        return None
    return push(settings, period.label, "system:dhis2-monthly", today=today)


def last_push() -> Dhis2Push | None:
    return db.session.scalar(select(Dhis2Push).order_by(Dhis2Push.id.desc()).limit(1))
