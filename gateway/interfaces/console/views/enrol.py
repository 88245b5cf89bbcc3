"""Enrolment: one client by form (also how an enrolment request from USSD is approved), many by CSV."""
from __future__ import annotations

import datetime as dt
import logging

from flask import abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from gateway import appointments
from gateway.core import audit, clock
from gateway import access
from gateway.clients import enrolment, transfers
from gateway.schedules.window import reminder_hours
from gateway.clients.importer import COLUMNS, CsvFileError
from gateway.core.countries import COUNTRIES, LANGUAGES
from gateway.core.errors import Conflict, ValidationError
from gateway.adapters.database import db
from gateway.i18n import offered_languages
from gateway.core.models import HIV_STATUSES, PROGRAMMES, Client, Site, Task
from gateway.interfaces.console import actions, bp, imports, scope
from gateway.interfaces.console.auth import actor

log = logging.getLogger(__name__)

INFANT_ROWS = 2  # twins are common enough; more infants are added later as births
FIELDS = ("phone", "name", "clinic_number", "site_id", "programme", "language", "reminder_hour", "expected_delivery_date",
          "art.last_dispensed", "art.days_supply", "art.started", "consent", "no_welcome", "request", "hiv_status") + tuple(
    f"infants[{i}].{k}" for i in range(INFANT_ROWS) for k in ("date_of_birth", "name", "hiv_exposed"))
# Imports of up to this many new clients are planned at once; bigger ones by a worker, within minutes.
PLAN_INLINE_LIMIT = 500
SENT_FOR_APPROVAL = "Sent to the programme admin for approval."


def _site_from_form(raw: str, errors: dict[str, str]) -> tuple[Site | None, bool]:
    """The chosen site (coordinators: one of theirs; admins may choose none). Returns (site, ok)."""
    if raw == "" and current_user.is_admin:
        return None, True
    if raw.isdigit():
        site = next((s for s in scope.visible_sites() if s.id == int(raw)), None)
        if site is not None:
            return site, True
    errors["site_id"] = "choose one of your sites"
    return None, False


def _country(site: Site | None) -> str:
    return site.country if site else current_app.config["SETTINGS"].default_country


def _open_request(task_id: str) -> Task | None:
    """The enrolment request being approved, if the form came from one."""
    if not task_id.isdigit():
        return None
    task = scope.task_or_404(int(task_id))
    if task.kind != "enrolment_request" or task.status != "open":
        abort(404)
    return task


def _body(values: dict[str, str], site: Site | None) -> tuple[dict, dict[int, int]]:
    """The form as the JSON API's enrolment body; also which form row each infant came from."""
    body = {k: values[k] for k in ("phone", "name", "clinic_number", "programme", "language", "reminder_hour",
                                   "expected_delivery_date", "hiv_status")}
    body["consent"] = values["consent"] == "yes"  # the tick; without it parse_enrolment names consent
    body["country"] = _country(site)
    if site is not None:
        body["site_id"] = site.id
    if values["art.last_dispensed"] or values["art.days_supply"] or values["art.started"]:
        body["art"] = {"last_dispensed": values["art.last_dispensed"], "days_supply": values["art.days_supply"],
                       "started": values["art.started"] or None}
    infants, rows = [], {}
    for i in range(INFANT_ROWS):
        dob, name = values[f"infants[{i}].date_of_birth"], values[f"infants[{i}].name"]
        if dob or name:
            rows[len(infants)] = i
            infants.append({"date_of_birth": dob, "name": name, "hiv_exposed": values[f"infants[{i}].hiv_exposed"]})
    if infants:
        body["infants"] = infants
    if values["no_welcome"] == "yes":  # "don't text now": a shared phone
        body["welcome_sms"] = False
    return body, rows


def _form_errors(fields: dict[str, str], rows: dict[int, int]) -> dict[str, str]:
    """Service field names -> form field names (an infant's list index -> its form row)."""
    out = {}
    for key, reason in fields.items():
        if key.startswith("infants[") and "]" in key:
            index = key[len("infants["):key.index("]")]
            if index.isdigit() and int(index) in rows:
                key = f"infants[{rows[int(index)]}]" + key[key.index("]") + 1:]
        if key == "country":
            key = "site_id"  # the country is the site's
        out[key] = reason
    return out


def _render_form(values, errors, status=200, task=None):
    sites = scope.visible_sites()
    return render_template("console/enrol.html", values=values, errors=errors, sites=sites, task=task,
                           programmes=PROGRAMMES, hiv_statuses=HIV_STATUSES, languages={c: LANGUAGES[c] for c in offered_languages()}, countries=COUNTRIES,
                           hours=range(reminder_hours()[0], reminder_hours()[1] + 1),
                           infant_rows=range(INFANT_ROWS), default_hour=enrolment.DEFAULT_REMINDER_HOUR,
                           service_code=current_app.config["SETTINGS"].ussd_service_code,
                           # No date in the future; a day's margin for zones ahead of UTC.
                           today_iso=(clock.today_utc() + dt.timedelta(days=1)).isoformat()), status


@bp.get("/enrol")
def enrol_form():
    task = _open_request(request.args.get("request", ""))
    sites = scope.visible_sites()
    values = {name: "" for name in FIELDS}
    values.update({"reminder_hour": str(enrolment.DEFAULT_REMINDER_HOUR), "site_id": str(sites[0].id) if sites else ""})
    for i in range(INFANT_ROWS):
        values[f"infants[{i}].hiv_exposed"] = "true"
    if task is not None:
        values["phone"], values["request"] = task.phone, str(task.id)
        if task.site_id:
            values["site_id"] = str(task.site_id)
    return _render_form(values, {}, task=task)


@bp.post("/enrol")
def enrol_submit():
    values = {name: request.form.get(name, "").strip() for name in FIELDS}
    task = _open_request(values["request"])
    errors: dict[str, str] = {}
    site, _ = _site_from_form(values["site_id"], errors)
    body, rows = _body(values, site)
    if task is not None and (task.details or {}).get("consent_version"):
        body["consent_version"] = task.details["consent_version"]
    if values["consent"] != "yes":
        errors["consent"] = "she must agree to get SMS reminders before she is enrolled"
    try:
        data = enrolment.parse_enrolment(body, _country(site))
    except ValidationError as exc:
        errors = {**_form_errors(exc.fields, rows), **errors}
        data = None
    if errors:
        return _render_form(values, errors, 422, task)
    try:
        elsewhere = None if current_user.is_admin else transfers.held_elsewhere(
            data, lambda c: access.may_see(current_user.user, c))
        if elsewhere is not None:  # she is told what any enrolment waiting for an admin is told
            transfers.request_transfer(elsewhere, data.site_id, actor())
            if task is not None:
                actions.close_task(task, "done", actor())
            db.session.commit()
            flash(SENT_FOR_APPROVAL, "ok")
            return redirect(url_for("console.enrol_form"))
        client = enrolment.enrol(data, actor())
    except Conflict as exc:
        db.session.rollback()
        if "phone" not in exc.fields:  # her clinic number is another client's
            return _render_form(values, dict(exc.fields), 409, task)
        existing = db.session.scalar(scope.visible_clients().where(Client.phone == data.phone))
        return _render_form(values, {"phone": exc.fields.get("phone", exc.message)}
                            | ({"existing": str(existing.id)} if existing else {}), 409, task)
    appointments.refresh(client)
    if task is not None:
        actions.close_task(task, "done", actor())
    db.session.commit()
    flash(f"Enrolled {client.name or client.phone}.", "ok")
    return redirect(url_for("console.client_page", client_id=client.id))


# --- CSV upload -------------------------------------------------------------------------------------

@bp.get("/import")
def import_form():
    sites = scope.visible_sites()
    return render_template("console/import.html", sites=sites, values={"site_id": str(sites[0].id) if sites else ""},
                           errors={}, columns=COLUMNS)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


@bp.post("/import")
def import_upload():
    """Import the uploaded file; answer with the report page (or, to the page's script, its address)."""
    settings = current_app.config["SETTINGS"]
    errors: dict[str, str] = {}
    values = {"site_id": request.form.get("site_id", "")}
    site, _ = _site_from_form(values["site_id"], errors)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        errors["file"] = "choose a CSV file"
    report = None
    if not errors:
        try:
            report, refused_csv = imports.run(upload.stream, country=_country(site), site_id=site.id if site else None,
                                              actor=actor(), batch_size=settings.import_batch_size,
                                              visible_sites=None if current_user.is_admin
                                              else access.site_ids_of(current_user.user))
        except CsvFileError as exc:
            db.session.rollback()
            errors["file"] = "; ".join(f"{k}: {v}" for k, v in exc.fields.items()) or exc.message
    if errors:
        if _wants_json():
            return jsonify({"errors": errors}), 422
        sites = scope.visible_sites()
        return render_template("console/import.html", sites=sites, values=values, errors=errors,
                               columns=COLUMNS), 422
    db.session.commit()
    if report.imported:
        _plan(report.imported)
    report_id = imports.save(current_user.user.id, upload.filename[:120], site.name if site else None,
                             report, refused_csv)
    target = url_for("console.import_report", report_id=report_id)
    if _wants_json():
        return jsonify({"report_url": target})
    return redirect(target, 303)


def _plan(imported: int) -> None:
    """Give the new clients their appointments and reminders: now for a small file, else by a worker."""
    if imported <= PLAN_INLINE_LIMIT:
        appointments.plan_ahead()
        return
    from jobs import enqueue_plan_ahead

    try:
        enqueue_plan_ahead()
    except Exception:  # Redis unreachable: the periodic plan-ahead job catches up within minutes
        log.warning("could not enqueue plan_ahead after a console import", exc_info=True)


@bp.get("/import/<report_id>")
def import_report(report_id: str):
    found = imports.load(report_id, current_user.user.id)
    if found is None:
        abort(404)
    summary, _ = found
    return render_template("console/import_report.html", report=summary, report_id=report_id)


@bp.get("/import/<report_id>/refused.csv")
def import_refused(report_id: str):
    found = imports.load(report_id, current_user.user.id)
    if found is None:
        abort(404)
    summary, refused_csv = found
    # Its rows quote the uploaded lines (numbers, names): a download is a read, audited like one.
    audit.record(actor(), "import.report_downloaded", "import", None, {"report": report_id})
    db.session.commit()
    stem = summary["filename"].rsplit(".", 1)[0] or "import"
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in stem)[:60]
    return refused_csv, 200, {"Content-Type": "text/csv; charset=utf-8",
                              "Content-Disposition": f'attachment; filename="{safe}.refused.csv"'}
