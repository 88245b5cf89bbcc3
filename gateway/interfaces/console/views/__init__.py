"""The console's pages, one module per area; this module holds what they share.

- ``today``: the per-site dashboard, call-backs and enrolment requests
- ``enrol``: one client by form, many by CSV upload
- ``clients``: search, the client page with its timeline, and its actions
- ``delivery``: outbox and delivery, retries, charts
- ``programme``: the programme indicators, their trends, the clients behind them, CSV exports
- ``admin``: users, sites, schedules, audit log, operations, alerts
- ``phone``: the USSD phone, real USSD sessions played in the page
- ``account``: her own password
- ``translations``: texts in each language, written and reviewed by programme staff (admins)
- ``broadcasts``: one message to many of your clients, previewed before it is sent
"""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from flask import g, render_template, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from gateway.adapters.database import db
from gateway.core import fields
from gateway.i18n import format_date
from gateway.core.phones import masked
from gateway.interfaces.console import audit_view, bp, scope


KIND_LABELS = {"art_refill": "Medicine pick-up", "immunisation": "Immunisation", "infant_hiv_test": "Infant HIV test"}


@bp.context_processor
def _labels():
    return {"kind_labels": KIND_LABELS}


def zone() -> str:
    """The zone this request shows times in (see ``scope.default_zone``), looked up once."""
    if "console_zone" not in g:
        g.console_zone = scope.default_zone()
    return g.console_zone


@bp.app_template_filter("local")
def local_time(moment: dt.datetime | None, zone_name: str | None = None) -> str:
    """A stored naive-UTC moment as local ``YYYY-MM-DD HH:MM``."""
    if moment is None:
        return ""
    local = moment.replace(tzinfo=dt.timezone.utc).astimezone(ZoneInfo(zone_name or zone()))
    return local.strftime("%Y-%m-%d %H:%M")


@bp.app_template_filter("day")
def day(value: dt.date | str | None) -> str:
    """``Tue 25 Nov 2025``: a date no one misreads, whatever their habit (25/11 or 11/25)."""
    if not value:
        return ""
    if isinstance(value, str):
        value = dt.date.fromisoformat(value)
    return format_date(value, "en", year=True)


bp.add_app_template_filter(audit_view.action_label, "action_label")
bp.add_app_template_filter(audit_view.change_lines, "change_lines")


@bp.app_template_filter("masked")
def masked_phone(phone: str | None) -> str:
    return masked(phone) if phone else ""


def actor_names(entries) -> dict[str, str]:
    """``{"user:3": "nurse@example.org"}`` for the users among these audit entries' actors."""
    from sqlalchemy import select

    from gateway.core.models import User

    ids = {int(e.actor[5:]) for e in entries if e.actor.startswith("user:") and e.actor[5:].isdigit()}
    if not ids:
        return {}
    return {f"user:{uid}": name or email for uid, name, email in
            db.session.execute(select(User.id, User.name, User.email).where(User.id.in_(ids)))}


def int_arg(name: str) -> int | None:
    raw = request.args.get(name, "")
    return int(raw) if raw.isdigit() and len(raw) < 12 else None


def _error_page(status: int, title: str, text: str):
    db.session.rollback()
    return render_template("console/error.html", status=status, title=title, text=text), status


@bp.before_request
def _refuse_control_characters():
    """A form field or query parameter holding a control character (a NUL was a 500 on PostgreSQL) is a 400."""
    name = fields.first_with_control(request.args) or (fields.first_with_control(request.form)
                                                       if request.method == "POST" else None)
    if name is not None:
        return _error_page(400, "Unreadable input", f"The field \"{name}\" holds a control character. "
                           "Go back, retype it and send it again.")
    return None


@bp.errorhandler(CSRFError)
def _csrf_error(exc: CSRFError):
    return _error_page(400, "The form expired", "This form was open too long or came from elsewhere. "
                       "Go back, reload the page and send it again.")


@bp.errorhandler(403)
def _forbidden(exc: HTTPException):
    return _error_page(403, "Not allowed", "Your role may not do this.")


@bp.errorhandler(404)
def _not_found(exc: HTTPException):
    return _error_page(404, "Not found", "There is nothing here, or it is not one of your sites'.")


@bp.errorhandler(413)
def _too_large(exc: HTTPException):
    return _error_page(413, "File too large", "The file is larger than the server accepts. "
                       "Split it, or ask an admin to import it with the command line.")


from gateway.interfaces.console.views import account, admin, broadcasts, clients, delivery, enrol, phone, programme, today, translations  # noqa: E402,F401  (routes register on bp)
