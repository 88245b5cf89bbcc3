"""Admins only: users, sites, the schedules in force, the audit log, the queues and workers, alerts."""
from __future__ import annotations

import datetime as dt
import logging

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import Text, and_, cast, func, or_, select

from gateway.interfaces import health
from gateway import users
from gateway.indicators import dhis2
from gateway.core.countries import COUNTRIES
from gateway.core.errors import GatewayError
from gateway.adapters.database import db
from jobs import enqueue_pending
from gateway.core import audit, clock
from gateway.core.models import ROLES, Alert, ApiToken, AuditEntry, Client, Site, User
from gateway.adapters.redis_store import get_redis
from gateway.schedules import all_schedules, reminder_rules
from gateway.interfaces.console import actions, audit_view, bp
from gateway.interfaces.console.auth import actor, admin_required
from gateway.interfaces.console.views import actor_names, int_arg, zone

log = logging.getLogger(__name__)
AUDIT_PAGE = 100


@bp.context_processor
def _alerts():
    """Unresolved alerts (sending paused first) for the banner on every admin page."""
    if not (current_user.is_authenticated and current_user.is_admin):
        return {"alerts": []}
    alerts = db.session.scalars(select(Alert).where(Alert.resolved_at.is_(None))
                                .order_by((Alert.kind != "sending_paused"), Alert.id)).all()
    return {"alerts": alerts}


@bp.post("/alerts/<int:alert_id>/resolve")
@admin_required
def alert_resolve(alert_id: int):
    alert = db.session.get(Alert, alert_id)
    if alert is None:
        abort(404)
    actions.resolve_alert(alert, actor())
    db.session.commit()
    if alert.kind == "sending_paused":
        enqueue_pending()  # what waited during the pause goes now
        flash("Sending resumed; waiting messages go out now.", "ok")
    else:
        flash("Alert resolved.", "ok")
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/console/") else url_for("console.today"))


# --- users --------------------------------------------------------------------------------------------

USER_FIELDS = ("email", "name", "role", "password", "phone", "pin", "active")


@bp.get("/users")
@admin_required
def users_list():
    rows = db.session.scalars(select(User).order_by(User.role, User.email)).all()
    return render_template("console/users.html", users=rows)


def _user_form(user: User | None, values: dict, errors: dict, status: int = 200):
    sites = db.session.scalars(select(Site).order_by(Site.name)).all()
    return render_template("console/user_form.html", user=user, values=values, errors=errors, sites=sites,
                           roles=ROLES), status


def _site_ids() -> list[int]:
    return [int(v) for v in request.form.getlist("sites") if v.isdigit()]


@bp.route("/users/new", methods=["GET", "POST"])
@admin_required
def user_new():
    if request.method == "GET":
        return _user_form(None, {"role": "coordinator", "active": "yes", "sites": []}, {})
    values = {k: request.form.get(k, "").strip() for k in USER_FIELDS} | {"sites": _site_ids()}
    settings = current_app.config["SETTINGS"]
    try:
        user = users.create_user(values["email"], values["role"], values["password"] or "", actor(),
                                 name=values["name"] or None, phone=values["phone"] or None,
                                 pin=values["pin"] or None, country=_phone_country(values["sites"]) or
                                 settings.default_country, site_ids=values["sites"])
    except GatewayError as exc:
        db.session.rollback()
        values["password"] = values["pin"] = ""  # secrets are never sent back to the page
        return _user_form(None, values, exc.fields or {"form": exc.message}, exc.status)
    db.session.commit()
    flash(f"Created {user.role} {user.email}.", "ok")
    return redirect(url_for("console.users_list"))


def _phone_country(site_ids: list[int]) -> str | None:
    """A user's phone is read in her first site's country."""
    for site_id in site_ids:
        site = db.session.get(Site, site_id)
        if site is not None:
            return site.country
    return None


@bp.route("/users/<int:user_id>", methods=["GET", "POST"])
@admin_required
def user_edit(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if request.method == "GET":
        values = {"email": user.email, "name": user.name or "", "role": user.role, "phone": user.phone or "",
                  "active": "yes" if user.active else "", "sites": [s.id for s in user.sites]}
        return _user_form(user, values, {})
    values = {k: request.form.get(k, "").strip() for k in USER_FIELDS} | {"sites": _site_ids()}
    settings = current_app.config["SETTINGS"]
    try:
        changes = actions.update_user(
            user, actor(), name=values["name"] or None, role=values["role"], active=values["active"] == "yes",
            site_ids=values["sites"], password=values["password"] or None, phone=values["phone"],
            pin=values["pin"] or None, country=_phone_country(values["sites"]) or settings.default_country,
            acting_user_id=current_user.user.id)
    except GatewayError as exc:
        db.session.rollback()
        values["password"] = values["pin"] = ""
        return _user_form(user, values, exc.fields or {"form": exc.message}, exc.status)
    db.session.commit()
    flash("Saved." if changes else "Nothing changed.", "ok" if changes else "info")
    return redirect(url_for("console.users_list"))


# --- sites ----------------------------------------------------------------------------------------------

@bp.route("/sites", methods=["GET", "POST"])
@admin_required
def sites():
    values = {"name": "", "country": current_app.config["SETTINGS"].default_country, "timezone": "", "region": ""}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        values = {k: request.form.get(k, "").strip() for k in values}
        try:
            site = actions.create_site(values["name"], values["country"], values["timezone"], actor(),
                                       region=values["region"])
        except GatewayError as exc:
            db.session.rollback()
            errors, status = exc.fields, exc.status
        else:
            db.session.commit()
            flash(f"Created site {site.name}.", "ok")
            return redirect(url_for("console.sites"))
    rows = db.session.scalars(select(Site).order_by(Site.name)).all()
    counts = dict(db.session.execute(select(Client.site_id, func.count()).group_by(Client.site_id)).all())
    coordinators = {site.id: site_users for site, site_users in _site_users(rows)}
    return render_template("console/sites.html", sites=rows, counts=counts, coordinators=coordinators,
                           values=values, errors=errors, countries=COUNTRIES), status


@bp.post("/sites/<int:site_id>/org-unit")
@admin_required
def site_org_unit(site_id: int):
    """Set or clear a site's DHIS2 organisation unit."""
    site = db.session.get(Site, site_id)
    if site is None:
        abort(404)
    try:
        changed = dhis2.set_org_unit(site, request.form.get("org_unit", ""), actor())
    except GatewayError as exc:
        db.session.rollback()
        flash(f"{site.name}: DHIS2 org unit not saved: {next(iter(exc.fields.values()), exc.message)}.", "error")
    else:
        db.session.commit()
        flash(f"{site.name}: DHIS2 org unit {site.dhis2_org_unit or 'cleared'}." if changed else "Nothing changed.",
              "ok" if changed else "info")
    return redirect(url_for("console.sites"))


def _site_users(rows):
    users_ = db.session.scalars(select(User).where(User.active.is_(True))).all()
    for site in rows:
        yield site, [u for u in users_ if any(s.id == site.id for s in u.sites)]


# --- schedules, audit -----------------------------------------------------------------------------------

@bp.get("/schedules")
@admin_required
def schedules():
    loaded = all_schedules()
    ordered = sorted(loaded.values(), key=lambda s: (s.country == "default", s.name))
    return render_template("console/schedules.html", schedules=ordered, rules=reminder_rules(), countries=COUNTRIES)


@bp.get("/audit")
@admin_required
def audit_log():
    values = {k: request.args.get(k, "").strip()[:64] for k in AUDIT_FILTERS}
    errors: dict[str, str] = {}
    query = select(AuditEntry)
    if values["user"].isdigit() and len(values["user"]) < 12:
        query = query.where(AuditEntry.actor.in_(_actors_of(int(values["user"]))))
    elif values["user"]:
        errors["user"] = "choose a user from the list"
    if values["client"].isdigit() and len(values["client"]) < 12:
        query = query.where(_about_client(int(values["client"])))
    elif values["client"]:
        errors["client"] = "a client's id: a whole number"
    for name, hour_after in (("from", False), ("to", True)):
        if not values[name]:
            continue
        try:
            day = dt.date.fromisoformat(values[name]) + dt.timedelta(days=1 if hour_after else 0)
        except ValueError:
            errors[name] = "a date written YYYY-MM-DD"
            continue
        moment = clock.utc_of_local(day, 0, zone())  # the day's start (or the next day's) in the console's zone
        query = query.where(AuditEntry.at < moment if hour_after else AuditEntry.at >= moment)
    if values["actor"]:
        query = query.where(AuditEntry.actor == values["actor"])
    if values["action"]:
        query = query.where(AuditEntry.action == values["action"])
    if values["entity"]:
        query = query.where(AuditEntry.entity == values["entity"])
    if values["entity_id"].isdigit():
        query = query.where(AuditEntry.entity_id == int(values["entity_id"]))
    before = int_arg("before")
    if before:
        query = query.where(AuditEntry.id < before)
    rows = db.session.scalars(query.order_by(AuditEntry.id.desc()).limit(AUDIT_PAGE + 1)).all()
    older = None
    if len(rows) > AUDIT_PAGE:
        rows = rows[:AUDIT_PAGE]
        older = url_for("console.audit_log", **{k: v for k, v in values.items() if v}, before=rows[-1].id)
    people = [(uid, f"{name} ({email})" if name else email) for uid, name, email in
              db.session.execute(select(User.id, User.name, User.email).order_by(User.email))]
    actions = [(a, f"{label} ({a})") for a, label in sorted(audit_view.ACTION_LABELS.items(), key=lambda i: i[1])]
    return render_template("console/audit.html", rows=rows, values=values, older=older, actors=actor_names(rows),
                           errors=errors, people=people, zone=zone(), actions=actions), (400 if errors else 200)


AUDIT_FILTERS = ("user", "client", "action", "from", "to", "actor", "entity", "entity_id")


def _actors_of(user_id: int) -> list[str]:
    """Every actor string that is this user: signed in, through her API tokens, on her phone."""
    tokens = db.session.scalars(select(ApiToken.id).where(ApiToken.user_id == user_id))
    return [f"user:{user_id}", f"ussd:user:{user_id}", *(f"token:{t}" for t in tokens)]


def _about_client(client_id: int):
    """Entries about this client: hers by id, and the searches that listed her (``client_ids`` in ``changes``)."""
    listed = cast(AuditEntry.changes, Text)
    shown = or_(*(listed.like(f"%{pattern}%") for pattern in
                  (f"[{client_id}]", f"[{client_id},", f" {client_id},", f" {client_id}]")))
    return or_(and_(AuditEntry.entity == "client", AuditEntry.entity_id == client_id),
               and_(AuditEntry.action == audit.LISTED, shown))


# --- operations -----------------------------------------------------------------------------------------

def _queues_and_workers():
    """RQ's view of the queues (waiting, running, failed, scheduled) and the workers, or an error."""
    from rq import Worker

    import jobs

    queues, workers = [], []
    for name in jobs.QUEUES:
        q = jobs.queue(name)
        failed = q.failed_job_registry
        recent = []
        for job_id in failed.get_job_ids(0, 9):
            job = q.fetch_job(job_id)
            if job is not None:
                error = (job.latest_result().exc_string if job.latest_result() else "") or ""
                recent.append({"id": job_id, "func": job.func_name, "ended_at": job.ended_at,
                               "error": error.strip().splitlines()[-1][:200] if error.strip() else ""})
        queues.append({"name": name, "waiting": q.count, "running": q.started_job_registry.count,
                       "failed": failed.count, "scheduled": q.scheduled_job_registry.count,
                       "deferred": q.deferred_job_registry.count, "recent_failures": recent})
    for w in Worker.all(connection=get_redis()):
        workers.append({"name": w.name, "state": w.get_state(), "queues": ", ".join(w.queue_names()),
                        "job": w.get_current_job_id(), "heartbeat": w.last_heartbeat, "born": w.birth_date,
                        "ok": w.successful_job_count, "failed": w.failed_job_count})
    return queues, workers, jobs.PERIODIC


@bp.get("/ops")
@admin_required
def ops():
    response, _ = health.healthz()  # the same checks as /healthz, shown here
    checks = response.get_json()
    try:
        queues, workers, periodic = _queues_and_workers()
        rq_error = None
    except Exception as exc:  # Redis down: the page still shows the health checks that say so
        log.warning("could not read RQ state", exc_info=True)
        queues, workers, periodic, rq_error = [], [], {}, type(exc).__name__
    return render_template("console/ops.html", checks=checks, queues=queues, workers=workers, periodic=periodic,
                           rq_error=rq_error, settings=current_app.config["SETTINGS"], dhis2_push=dhis2.last_push())
