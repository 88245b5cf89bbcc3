"""Clients: search by phone or name, the client page with her timeline, and what a coordinator records there."""
from __future__ import annotations

from functools import partial

import datetime as dt
import re

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select

from gateway import appointments
from gateway.appointments import life_cycle
from gateway.core import audit, clock
from gateway.appointments.events import EVENT_TYPES
from gateway.interfaces import events
from gateway import access
from gateway.clients import enrolment, erasure, sites, transfers
from gateway.schedules.window import reminder_hours
from gateway.core.countries import LANGUAGES
from gateway.core.errors import GatewayError, ValidationError
from gateway.adapters.database import db
from gateway.messages import set_opt_out
from jobs import enqueue_pending
from gateway.i18n import offered_languages
from gateway.core.models import (CLIENT_CLOSE_REASONS, INFANT_CLOSE_REASONS, INFANT_HIV_RESULTS, AuditEntry, Client,
                                  Message)
from gateway.core.phones import PhoneError, normalise
from gateway.schedules import DAYS_PER_MONTH, art_next_pickup, schedule_for
from gateway.interfaces.console import actions, bp, scope
from gateway.interfaces.console.auth import actor, admin_required
from gateway.interfaces.console.views import KIND_LABELS, actor_names, day, local_time
from gateway.interfaces.console.views.enrol import SENT_FOR_APPROVAL
from gateway.interfaces.console.views.today import _back

SEARCH_LIMIT = 50
TIMELINE_MESSAGES = 200
# Every form on the client page, and the fields each sends.
FORMS = {
    "art_dispensed": ("date", "days_supply", "next_visit", "infant_id"),
    "dose_given": ("infant_id", "dose", "date"),
    "visit": ("infant_id", "date"),
    "infant_born": ("date_of_birth", "name", "hiv_exposed"),
    "breastfeeding_ended": ("infant_id", "date"),
    "client_closed": ("date", "reason"),
    "client_reopened": ("date",),
    "infant_closed": ("infant_id", "date", "reason"),
    "infant_reopened": ("infant_id", "date"),
    "infant_test_result": ("infant_id", "test", "date", "result"),
    "exposure": ("infant_id", "hiv_exposed"),
    "details": ("name", "phone", "clinic_number", "language", "reminder_hour"),
    "message": ("template",),
}


EVENT_DONE = {"art_dispensed": "Pick-up recorded.", "dose_given": "Dose recorded.", "infant_born": "Birth recorded.",
              "breastfeeding_ended": "End of breastfeeding recorded.",
              "client_closed": "She is closed: nothing more is sent to her.", "client_reopened": "She is reopened.",
              "infant_closed": "The child is closed.", "infant_reopened": "The child is reopened.",
              "infant_test_result": "Test result recorded."}


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
            audit.listed(actor(), [found[0].id], "console search")
            db.session.commit()
            return redirect(url_for("console.client_page", client_id=found[0].id))
    else:
        found = db.session.scalars(scope.visible_clients().order_by(Client.id.desc()).limit(20)).all()
    audit.listed(actor(), [c.id for c in found], "console search" if text else "console list")
    db.session.commit()
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
                        "title": {"welcome": "Welcome SMS", "broadcast": "Broadcast SMS"}.get(
                            m.kind or "", "SMS sent" if m.direction == "out" else "SMS received")})
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
    tests = {i.id: sorted(life_cycle.test_names(client, i)) for i in client.infants}
    due_by_today = {i.id: [a["name"] for a in schedule["appointments"] if a.get("infant_id") == i.id
                           and a["status"] in ("due", "overdue") and a["due_date"] <= today.isoformat()]
                    for i in client.infants}
    defaults = {
        "art_dispensed": {"date": today.isoformat(), "days_supply": str(client.art_days_supply or DAYS_PER_MONTH)},
        "dose_given": {"date": today.isoformat()},
        "visit": {"date": today.isoformat()},
        "infant_born": {"hiv_exposed": "true"},
        "breastfeeding_ended": {"date": today.isoformat()},
        "client_closed": {"date": today.isoformat()},
        "client_reopened": {"date": today.isoformat()},
        "infant_closed": {"date": today.isoformat()},
        "infant_reopened": {"date": today.isoformat()},
        "infant_test_result": {"date": today.isoformat()},
        "details": {"name": client.name or "", "phone": client.phone, "clinic_number": client.clinic_number or "",
                    "language": client.language, "reminder_hour": str(client.reminder_hour)},
    }
    state = {name: {"values": {**defaults.get(name, {}), **forms.get(name, {}).get("values", {})},
                    "errors": forms.get(name, {}).get("errors", {})} for name in FORMS}
    history_entries = db.session.scalars(select(AuditEntry).where(AuditEntry.entity == "client",
                                                                 AuditEntry.entity_id == client.id,
                                                                 AuditEntry.action.not_in(audit.READS))
                                         .order_by(AuditEntry.id.desc()).limit(30)).all()
    next_pickup = None
    if client.art_last_dispensed and client.art_days_supply:
        next_pickup = art_next_pickup(client.art_last_dispensed, client.art_days_supply, client.art_next_visit)
    return render_template(
        "console/client.html", client=client, zone=zone, today=today, soon=soon, later=later, history=history,
        forms=state, doses=doses, tests=tests, due_by_today=due_by_today, languages=LANGUAGES, next_pickup=next_pickup,
        # Her own language stays choosable even if it is no longer offered; others only once offered.
        offered={c: n for c, n in LANGUAGES.items() if c in offered_languages() or c == client.language},
        hours=range(reminder_hours()[0], reminder_hours()[1] + 1),
        one_offs=actions.one_off_messages(client), audit_entries=history_entries,
        client_reasons=CLIENT_CLOSE_REASONS, infant_reasons=INFANT_CLOSE_REASONS, results=INFANT_HIV_RESULTS,
        actors=actor_names(history_entries),
        message_count=len(messages), message_limit=TIMELINE_MESSAGES), status


@bp.get("/clients/<int:client_id>")
def client_page(client_id: int):
    client = scope.client_or_404(client_id)
    audit.viewed(actor(), client.id, "console")
    db.session.commit()
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
        event = events.parse(body, partial(appointments.event_problems, client))
        if kind == "client_closed" and request.form.get("confirm") != "yes":
            # The confirmation step: closing stops every SMS to her, so it is ticked on purpose.
            raise ValidationError("please confirm", {"confirm": "tick the box to confirm: nothing more will be sent to her"})
        appointments.record_event(client, event, actor())
    except ValidationError as exc:
        return _failed(client, kind, exc, values)
    db.session.commit()
    flash(EVENT_DONE[kind] + " Visits and reminders are updated.", "ok")
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


@bp.post("/clients/<int:client_id>/exposure")
def client_exposure(client_id: int):
    """Correct whether a child is HIV-exposed (``life_cycle.correct_exposure``): its HIV tests follow."""
    client = scope.client_or_404(client_id)
    values = {name: request.form.get(name, "").strip() for name in FORMS["exposure"]}
    try:
        infant = life_cycle.correct_exposure(client, events.parse_exposure(values), actor())
    except ValidationError as exc:
        return _failed(client, "exposure", exc, values)
    db.session.commit()
    flash(f"{infant.name or 'The child'} is recorded as {'' if infant.hiv_exposed else 'not '}HIV-exposed. "
          "Visits and reminders are updated.", "ok")
    return redirect(url_for("console.client_page", client_id=client.id))


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
        holder = None if current_user.is_admin or "phone" not in changes else db.session.scalar(
            select(Client).where(Client.phone == changes["phone"], Client.id != client.id))
        if holder is not None and not access.may_see(current_user.user, holder):
            # Answered as any change waiting for an admin: nothing says the number is enrolled elsewhere.
            transfers.request_phone_change(client, holder, actor())
            db.session.commit()
            flash(SENT_FOR_APPROVAL, "ok")
            return redirect(url_for("console.client_page", client_id=client.id))
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


@bp.post("/clients/<int:client_id>/erase")
@admin_required
def client_erase(client_id: int):
    """Erase her for good (``erasure.erase``), once the admin has typed ERASE."""
    client = scope.client_or_404(client_id)
    if request.form.get("confirm", "").strip().upper() != "ERASE":
        flash("Not erased: type ERASE in the box to confirm.", "error")
        return redirect(url_for("console.client_page", client_id=client.id) + "#erase")
    erasure.erase(client.id, actor())
    flash(f"Client {client_id} is erased: her record, SMS and tasks are gone.", "ok")
    return redirect(url_for("console.clients"))
