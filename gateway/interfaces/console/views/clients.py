"""Clients: search by phone or name, the client page with her timeline, and what a coordinator records there."""
from __future__ import annotations

from functools import partial

import datetime as dt
import re

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, or_, select

from gateway import appointments
from gateway.core import clock
from gateway.appointments.events import EVENT_TYPES
from gateway.interfaces import events
from gateway.clients import enrolment, sites
from gateway.core.countries import LANGUAGES
from gateway.core.errors import GatewayError, ValidationError
from gateway.adapters.database import db
from gateway.messages import set_opt_out
from jobs import enqueue_pending
from gateway.core.models import AuditEntry, Client, Message
from gateway.core.phones import PhoneError, normalise
from gateway.schedules import art_next_pickup, schedule_for
from gateway.interfaces.console import actions, bp, scope
from gateway.interfaces.console.auth import actor
from gateway.interfaces.console.views import KIND_LABELS, actor_names, day, local_time
from gateway.interfaces.console.views.today import _back

SEARCH_LIMIT = 50
TIMELINE_MESSAGES = 200
# Every form on the client page, and the fields each sends.
FORMS = {
    "art_dispensed": ("date", "days_supply", "next_visit"),
    "dose_given": ("infant_id", "dose", "date"),
    "visit": ("infant_id", "date"),
    "infant_born": ("date_of_birth", "name", "hiv_exposed"),
    "breastfeeding_ended": ("infant_id", "date"),
    "details": ("name", "phone", "clinic_number", "language", "reminder_hour"),
    "message": ("template",),
}


# --- search -----------------------------------------------------------------------------------------

def _search(text: str):
    """Clients matching a phone (any local or international form, or its last digits), a name or a clinic number."""
    settings = current_app.config["SETTINGS"]
    conditions = []
    countries = {s.country for s in scope.visible_sites()} | {settings.default_country}
    phones = set()
    for country in sorted(countries):
        try:
            phones.add(normalise(text, country))
        except PhoneError:
            pass
    if phones:
        conditions.append(Client.phone.in_(phones))
    digits = re.sub(r"[\s\-.()+]", "", text)
    if digits.isdigit() and len(digits) >= 4:
        # The last digits as typed ("0101" ends +27825550101), and without a national trunk 0.
        conditions.extend(Client.phone.endswith(d) for d in {digits, digits.lstrip("0")} if len(d) >= 4)
    if any(ch.isalpha() for ch in text):
        conditions.append(func.lower(Client.name).contains(text.lower(), autoescape=True))
    if len(text) <= enrolment.CLINIC_NUMBER_CHARS:
        conditions.append(Client.clinic_number == text)  # her clinic file number, exactly
    if not conditions:
        return []
    return db.session.scalars(scope.visible_clients().where(or_(*conditions))
                              .order_by(Client.name, Client.id).limit(SEARCH_LIMIT)).all()


@bp.get("/clients")
def clients():
    text = request.args.get("q", "").strip()[:120]
    if text:
        found = _search(text)
        if len(found) == 1 and request.args.get("go") == "1":
            return redirect(url_for("console.client_page", client_id=found[0].id))
    else:
        found = db.session.scalars(scope.visible_clients().order_by(Client.id.desc()).limit(20)).all()
    return render_template("console/clients.html", q=text, clients=found, limit=SEARCH_LIMIT)


# --- the client page ---------------------------------------------------------------------------------

REMINDER_LABELS = {"before": "Reminder SMS before the visit", "today": "Reminder SMS on the day",
                   "missed": "Reminder SMS after a missed visit"}
# Upcoming entries shown at once; later ones are folded away (a baby's schedule runs for years).
SOON_DAYS = 90


def _timeline(client: Client, schedule: dict, messages: list[Message], today: dt.date, zone: str):
    """Appointments, reminders and SMS as entries: (soon, later, history) - upcoming soonest first, history latest first."""
    infants = {i.id: i for i in client.infants}
    entries = []
    for a in schedule["appointments"]:
        if a["status"] == "cancelled":
            continue
        when = dt.date.fromisoformat(a["done_on"] or a["due_date"])
        infant = infants.get(a.get("infant_id"))
        who = f" for {infant.name or 'her baby'}" if infant else ""
        entries.append({"date": when, "type": "visit", "status": a["status"],
                        "title": f"{KIND_LABELS.get(a['kind'], a['kind'])}: {a['name']}{who}",
                        "detail": "given before enrolment (up to date), date not recorded" if a.get("given_unrecorded")
                        else f"was due {a['due_date']}" if a["done_on"] and a["done_on"] != a["due_date"] else ""})
    for r in schedule["reminders"]:
        entries.append({"date": dt.date.fromisoformat(r["send_date"]), "type": "reminder", "status": r["status"],
                        "title": REMINDER_LABELS.get(r["template"], "Reminder SMS"), "detail": ""})
    for m in messages:
        parts = [local_time(m.created_at, zone)[11:]]
        if m.failure_reason:
            parts.append(m.failure_reason)
        if m.cost_amount is not None:
            parts.append(f"cost {float(m.cost_amount):g} {m.cost_currency or ''}".strip())
        entries.append({"date": clock.local_date(zone, m.created_at), "type": "sms-" + m.direction,
                        "status": m.status, "message": m, "text": m.text, "detail": ", ".join(parts),
                        "title": "SMS sent" if m.direction == "out" else "SMS received"})
    upcoming = sorted((e for e in entries if e["date"] > today), key=lambda e: e["date"])
    horizon = today + dt.timedelta(days=SOON_DAYS)
    history = sorted((e for e in entries if e["date"] <= today), key=lambda e: e["date"], reverse=True)
    return ([e for e in upcoming if e["date"] <= horizon], [e for e in upcoming if e["date"] > horizon], history)


def _render_client(client: Client, forms: dict | None = None, status: int = 200):
    forms = forms or {}
    zone = sites.zone_of(client)
    today = sites.local_today(client.country)
    schedule = appointments.schedule_json(client)
    messages = db.session.scalars(select(Message).where(Message.client_id == client.id)
                                  .order_by(Message.created_at.desc(), Message.id.desc())
                                  .limit(TIMELINE_MESSAGES)).all()
    soon, later, history = _timeline(client, schedule, messages, today, zone)
    country_schedule = schedule_for(client.country)
    doses = {i.id: [d.name for d in country_schedule.doses if i.hiv_exposed or not d.hiv_exposed_only]
             for i in client.infants}
    due_by_today = {i.id: [a["name"] for a in schedule["appointments"] if a.get("infant_id") == i.id
                           and a["status"] in ("due", "overdue") and a["due_date"] <= today.isoformat()]
                    for i in client.infants}
    defaults = {
        "art_dispensed": {"date": today.isoformat(), "days_supply": str(client.art_days_supply or 30)},
        "dose_given": {"date": today.isoformat()},
        "visit": {"date": today.isoformat()},
        "infant_born": {"hiv_exposed": "true"},
        "breastfeeding_ended": {"date": today.isoformat()},
        "details": {"name": client.name or "", "phone": client.phone, "clinic_number": client.clinic_number or "",
                    "language": client.language, "reminder_hour": str(client.reminder_hour)},
    }
    state = {name: {"values": {**defaults.get(name, {}), **forms.get(name, {}).get("values", {})},
                    "errors": forms.get(name, {}).get("errors", {})} for name in FORMS}
    history_entries = db.session.scalars(select(AuditEntry).where(AuditEntry.entity == "client",
                                                                 AuditEntry.entity_id == client.id)
                                         .order_by(AuditEntry.id.desc()).limit(30)).all()
    next_pickup = None
    if client.art_last_dispensed and client.art_days_supply:
        next_pickup = art_next_pickup(client.art_last_dispensed, client.art_days_supply, client.art_next_visit)
    return render_template(
        "console/client.html", client=client, zone=zone, today=today, soon=soon, later=later, history=history,
        forms=state, doses=doses, due_by_today=due_by_today, languages=LANGUAGES, next_pickup=next_pickup,
        hours=range(enrolment.REMINDER_HOURS[0], enrolment.REMINDER_HOURS[1] + 1),
        one_offs=actions.one_off_messages(client), audit_entries=history_entries,
        actors=actor_names(history_entries),
        message_count=len(messages), message_limit=TIMELINE_MESSAGES), status


@bp.get("/clients/<int:client_id>")
def client_page(client_id: int):
    return _render_client(scope.client_or_404(client_id))


def _failed(client: Client, form: str, exc: GatewayError, values: dict):
    db.session.rollback()
    client = scope.client_or_404(client.id)  # fresh after the rollback
    errors = dict(exc.fields) or {"form": exc.message}
    return _render_client(client, {form: {"values": values, "errors": errors}}, exc.status)


@bp.post("/clients/<int:client_id>/events")
def client_event(client_id: int):
    """Record a pick-up, a dose, a birth or the end of breastfeeding: the form read as an event, then applied."""
    client = scope.client_or_404(client_id)
    kind = request.form.get("type", "")
    if kind not in EVENT_TYPES:
        flash("Unknown kind of event.", "error")
        return redirect(url_for("console.client_page", client_id=client.id))
    values = {name: request.form.get(name, "").strip() for name in FORMS[kind]}
    body = {"type": kind, **{k: v for k, v in values.items() if v != ""}}
    if "infant_id" in body and body["infant_id"].isdigit():
        body["infant_id"] = int(body["infant_id"])
    try:
        appointments.record_event(client, events.parse(body, partial(appointments.event_problems, client)), actor())
    except ValidationError as exc:
        return _failed(client, kind, exc, values)
    db.session.commit()
    flash({"art_dispensed": "Pick-up recorded.", "dose_given": "Dose recorded.", "infant_born": "Birth recorded.",
           "breastfeeding_ended": "End of breastfeeding recorded."}[kind] + " Visits and reminders are updated.", "ok")
    return redirect(url_for("console.client_page", client_id=client.id))


@bp.post("/clients/<int:client_id>/visit")
def client_visit(client_id: int):
    """Visit done: every dose and test due for one child by the day, recorded at once (``appointments.visit_done``)."""
    client = scope.client_or_404(client_id)
    values = {name: request.form.get(name, "").strip() for name in FORMS["visit"]}
    body = {**values, "infant_id": int(values["infant_id"]) if values["infant_id"].isdigit() else values["infant_id"]}
    try:
        infant_id, date = events.parse_visit(body)
        infant, given, waiting = appointments.visit_done(client, infant_id, date, actor())
    except ValidationError as exc:
        return _failed(client, "visit", exc, values)
    db.session.commit()
    message = f"Visit recorded for {infant.name or 'her baby'} on {day(values['date'])}: {', '.join(given)}."
    if waiting:
        message += f" Not given with them (they wait after a dose given now): {', '.join(waiting)}; see the timeline."
    flash(message, "ok")
    return redirect(_back(url_for("console.client_page", client_id=client.id)))


@bp.post("/clients/<int:client_id>/details")
def client_details(client_id: int):
    """Change her name, phone, clinic number, language or reminder hour (``enrolment.parse_changes`` / ``update``)."""
    client = scope.client_or_404(client_id)
    values = {name: request.form.get(name, "").strip() for name in FORMS["details"] if name in request.form}
    current = {"name": client.name or "", "phone": client.phone, "clinic_number": client.clinic_number or "",
               "language": client.language, "reminder_hour": str(client.reminder_hour)}
    body = {k: v for k, v in values.items() if v != current[k]}
    if body.get("phone") == "":
        body["phone"] = None  # let the service say the phone is required
    for optional in ("name", "clinic_number"):
        if body.get(optional) == "":
            body[optional] = None
    if not body:
        flash("Nothing changed.", "info")
        return redirect(url_for("console.client_page", client_id=client.id))
    try:
        changes = enrolment.parse_changes(body, client)
        if "phone" in changes and changes["phone"] == client.phone:
            del changes["phone"]  # the same number written another way
        old_phone = client.phone
        changed = enrolment.update(client, changes, actor()) if changes else {}
    except GatewayError as exc:
        return _failed(client, "details", exc, values)
    if changed:
        if client.phone != old_phone:
            actions.clear_phone_flag(client, actor())
        appointments.replan(client)  # her hour (or, for a new number, the flag) may move her reminders
    db.session.commit()
    flash("Details saved." if changed else "Nothing changed.", "ok" if changed else "info")
    return redirect(url_for("console.client_page", client_id=client.id))


@bp.post("/clients/<int:client_id>/sms")
def client_sms(client_id: int):
    """Stop or restart her SMS (``messaging.set_opt_out``); she gets one SMS saying so."""
    client = scope.client_or_404(client_id)
    wanted = request.form.get("sms")
    if wanted not in ("stop", "start"):
        flash("Choose stop or restart.", "error")
        return redirect(url_for("console.client_page", client_id=client.id))
    changed = set_opt_out(client, wanted == "stop", actor())
    db.session.commit()
    if changed:
        enqueue_pending()
    flash(("SMS stopped." if wanted == "stop" else "SMS restarted.") if changed else "Nothing changed.", "ok")
    return redirect(url_for("console.client_page", client_id=client.id))


@bp.post("/clients/<int:client_id>/pin-reset")
def client_pin_reset(client_id: int):
    client = scope.client_or_404(client_id)
    had_pin = actions.reset_client_pin(client, actor())
    db.session.commit()
    flash("USSD PIN cleared: she can choose a new one under My settings." if had_pin
          else "She had no USSD PIN; any lock is cleared.", "ok")
    return redirect(url_for("console.client_page", client_id=client.id))


@bp.post("/clients/<int:client_id>/message")
def client_message(client_id: int):
    """Send one of the offered template messages now."""
    client = scope.client_or_404(client_id)
    values = {"template": request.form.get("template", "")}
    try:
        actions.send_one_off(client, values["template"], actor())
    except ValidationError as exc:
        return _failed(client, "message", exc, values)
    db.session.commit()
    enqueue_pending()
    flash("Message queued; its delivery shows in the timeline.", "ok")
    return redirect(url_for("console.client_page", client_id=client.id))
