"""Today: per site, who is due today and this week, who missed, who asked for a call, who asked to join."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from types import SimpleNamespace

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from gateway.core import clock
from gateway.appointments import display_status, follow_up
from gateway import appointments
from gateway.interfaces import events
from gateway.clients import transfers
from gateway.core.errors import GatewayError, ValidationError
from gateway.adapters.database import db
from gateway.core.models import Appointment, Client, Infant, Message, Site, Task
from gateway.schedules import schedule_for
from gateway.interfaces.console import actions, bp, scope
from gateway.interfaces.console.auth import actor, admin_required
from gateway.interfaces.console.views import KIND_LABELS, actor_names, zone

# Rows shown per list; the counts above them are always complete.
LIST_LIMIT = 100
# Missed visits older than this are not today's work any more (ART "lost" starts at 90 days).
MISSED_LOOKBACK_DAYS = 365
# Missed appointments read per page view: enough for a large site's year, bounded for a slow database.
MISSED_SCAN_LIMIT = 5000
MISSED_GROUPS = ("late", "interruption", "lost", "overdue")
# Follow-up tasks a closed client leaves (a missed visit, SMS not arriving); her call-backs and SMS stay.
CLOSED_HIDES = ("missed_visit", "undeliverable")
TASK_LABELS = {"callback": "Call-back request", "undeliverable": "SMS not arriving",
               "missed_visit": "Missed visit", "inbound_sms": "SMS received", "enrolment_request": "Asked to join",
               "transfer_request": "Transfer request",
               "hiv_status": "Find out her HIV status (is her baby exposed?)",
               "feeding_question": "Ask: still breastfeeding?"}
# A missed visit's outcomes, as the Mentor Mother reads them (docs/console.md).
OUTCOME_LABELS = {"reached_will_come": "Reached: she will come", "reached_already_went": "Reached: she already went",
                  "not_reachable": "Not reachable", "wrong_number": "Wrong number",
                  "transferred_out": "Transferred out", "died": "Died"}


def _chosen_site() -> tuple[Site | None, list[Site]]:
    """The site the dashboard is about: ``?site=<id>``, ``?site=none`` (admins: clients without a site), or the first."""
    sites = scope.visible_sites()
    raw = request.args.get("site", "")
    if raw == "none":
        if not current_user.is_admin:
            abort(404)
        return None, sites
    if raw:
        if not raw.isdigit():
            abort(404)
        return scope.site_or_404(int(raw)), sites
    if sites:
        return sites[0], sites
    if current_user.is_admin:
        return None, sites
    return None, []


def _one_row_per_visit(rows: list[dict]) -> list[dict]:
    """A child's doses and tests due the same day are one visit: one row naming them all (in the rows' order)."""
    visits: dict[tuple, dict] = {}
    for row in rows:
        a = row["appointment"]
        key = (row["client"].id, a.infant_id, a.due_date) if a.infant_id else ("appointment", a.id)
        visit = visits.get(key)
        if visit is None:
            visits[key] = {**row, "names": [a.name], "kinds": [a.kind]}
        else:
            visit["names"].append(a.name)
            if a.kind not in visit["kinds"]:
                visit["kinds"].append(a.kind)
    for visit in visits.values():
        visit["what"] = f"{', '.join(KIND_LABELS.get(k, k) for k in visit['kinds'])}: {', '.join(visit['names'])}"
    return list(visits.values())


def _rows(query, today: dt.date):
    """(appointment, client, infant name, display status, days) for each row of an appointment query,
    one row per visit (``_one_row_per_visit``)."""
    pairs = db.session.execute(query).all()
    infant_ids = {a.infant_id for a, _ in pairs if a.infant_id}
    names = dict(db.session.execute(select(Infant.id, Infant.name).where(Infant.id.in_(infant_ids))).all()) \
        if infant_ids else {}
    rows = []
    for appointment, client in pairs:
        status = display_status(appointment, today, schedule_for(client.country).thresholds)
        rows.append({"appointment": appointment, "client": client, "status": status,
                     "infant": names.get(appointment.infant_id) if appointment.infant_id else None,
                     "days": (today - appointment.due_date).days})
    return _one_row_per_visit(rows)


@bp.get("/")
def today():
    site, sites = _chosen_site()
    if site is None and not current_user.is_admin:
        return render_template("console/today.html", site=None, sites=[], no_site=True)
    zone_name = site.timezone if site else zone()
    today_ = clock.local_date(zone_name)
    in_site = Client.site_id == site.id if site else Client.site_id.is_(None)
    due = (select(Appointment, Client).join(Client, Appointment.client_id == Client.id)
           .where(scope.client_filter(), in_site, Appointment.status == "due", Client.status == "active"))
    due_today = _rows(due.where(Appointment.due_date == today_)
                      .order_by(Client.name, Client.id, Appointment.id).limit(LIST_LIMIT), today_)
    week_end = today_ + dt.timedelta(days=6)
    this_week = _rows(due.where(Appointment.due_date > today_, Appointment.due_date <= week_end)
                      .order_by(Appointment.due_date, Client.name, Appointment.id).limit(LIST_LIMIT), today_)
    past = _rows(due.where(Appointment.due_date < today_,
                           Appointment.due_date >= today_ - dt.timedelta(days=MISSED_LOOKBACK_DAYS))
                 .order_by(Appointment.due_date.desc(), Appointment.id).limit(MISSED_SCAN_LIMIT), today_)
    missed: dict[str, list] = defaultdict(list)
    for row in past:
        if row["status"] in MISSED_GROUPS:
            missed[row["status"]].append(row)

    # Closed clients (transferred out, died...): in no list above, shown here with the reason.
    closed = db.session.scalars(select(Client).where(scope.client_filter(), in_site, Client.status == "closed")
                                .order_by(Client.closed_on.desc(), Client.id).limit(LIST_LIMIT)).all()

    tasks = db.session.scalars(scope.tasks_of_site(site).where(Task.status == "open")
                               .order_by(Task.created_at, Task.id).limit(2 * LIST_LIMIT)).all()
    follow_ups = [t for t in tasks if t.kind != "enrolment_request"]
    # One block per client, her tasks together (a child's visit with several doses is one task already).
    by_client: dict = defaultdict(list)
    for t in follow_ups:
        by_client[t.client_id or f"phone:{t.phone}"].append(t)
    requests_ = [t for t in tasks if t.kind == "enrolment_request"]
    task_clients = {c.id: c for c in db.session.scalars(
        scope.visible_clients().where(Client.id.in_({t.client_id for t in follow_ups if t.client_id})))}
    # A closed client's missed visits and failed SMS are nobody's work now.
    follow_ups = [t for t in follow_ups if not (t.kind in CLOSED_HIDES and t.client_id in task_clients
                                                and task_clients[t.client_id].status == "closed")]
    message_ids = {t.details.get("message_id") for t in follow_ups if t.kind == "inbound_sms" and t.details}
    texts = dict(db.session.execute(select(Message.id, Message.text).where(Message.id.in_(message_ids))).all()) \
        if message_ids else {}
    transfer_tasks, site_names, transfer_actors = [], {}, {}
    if current_user.is_admin:
        transfer_tasks = db.session.scalars(select(Task).where(Task.kind == transfers.KIND, Task.status == "open")
                                            .order_by(Task.created_at, Task.id).limit(LIST_LIMIT)).all()
        site_names = dict(db.session.execute(select(Site.id, Site.name)).all())
        transfer_actors = actor_names([SimpleNamespace(actor=(t.details or {}).get("requested_by", ""))
                                       for t in transfer_tasks])
    return render_template(
        "console/today.html", site=site, sites=sites, no_site=False, today=today_, week_end=week_end,
        transfers=transfer_tasks, site_names=site_names, actors=transfer_actors,
        due_today=due_today, this_week=this_week, missed={k: missed[k] for k in MISSED_GROUPS},
        follow_ups=follow_ups, by_client=list(by_client.values()), requests=requests_, task_clients=task_clients,
        texts=texts, task_labels=TASK_LABELS, outcome_labels=OUTCOME_LABELS, infant_names=_infant_names(follow_ups), limit=LIST_LIMIT, zone_name=zone_name,
        closed=closed)


def _infant_names(tasks) -> dict[int, str | None]:
    ids = {t.details.get("infant_id") for t in tasks if t.details and t.details.get("infant_id")}
    return dict(db.session.execute(select(Infant.id, Infant.name).where(Infant.id.in_(ids))).all()) if ids else {}


@bp.post("/tasks/<int:task_id>/outcome")
def task_outcome(task_id: int):
    """A missed visit's outcome (outcome, note, the date she went): fed back into her record, audited."""
    task = scope.task_or_404(task_id)
    try:
        outcome, note, date = events.parse_outcome(request.form)
        follow_up.record_outcome(task, outcome, note, date, actor())
        db.session.commit()
        flash(f"Missed visit: {OUTCOME_LABELS[outcome].lower()}.", "ok")
    except ValidationError as exc:
        db.session.rollback()
        flash("; ".join(f"{name}: {reason}" for name, reason in exc.fields.items()) or exc.message, "error")
    return redirect(_back())


@bp.post("/tasks/<int:task_id>/done")
def task_done(task_id: int):
    return _close(task_id, "done")


@bp.post("/tasks/<int:task_id>/reject")
def task_reject(task_id: int):
    task = scope.task_or_404(task_id)
    if task.kind not in ("enrolment_request", transfers.KIND):
        abort(404)
    return _close(task_id, "rejected")


@bp.post("/tasks/<int:task_id>/transfer")
@admin_required
def transfer_approve(task_id: int):
    """Move the client to the site the coordinator asked for (her history goes with her), and close the request."""
    def move(task: Task) -> str:
        client = transfers.approve(task, actor())
        actions.close_task(task, "done", actor())
        appointments.replan(client)  # the new site's zone may move her reminders
        return f"Client {client.id} moved to her new site."
    return _settle(task_id, move)


def _close(task_id: int, status: str):
    def close(task: Task) -> str:
        actions.close_task(task, status, actor())
        return f"{TASK_LABELS.get(task.kind, 'Task')}: marked {status}."
    return _settle(task_id, close)


def _settle(task_id: int, act):
    """Do ``act(task)`` and commit, flashing what it returns; a refusal is flashed and changes nothing."""
    task = scope.task_or_404(task_id)
    try:
        done = act(task)
        db.session.commit()
        flash(done, "ok")
    except GatewayError as exc:
        db.session.rollback()
        flash(next(iter(exc.fields.values()), exc.message), "error")
    return redirect(_back())


def _back(default: str | None = None) -> str:
    """Back to the page the form was on (a path of ours only), else ``default`` (the dashboard)."""
    target = request.form.get("next", "")
    if target.startswith("/console/") and not target.startswith("//"):
        return target
    return default or url_for("console.today")
