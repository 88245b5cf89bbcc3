"""Delivery: every SMS in and out with its status, retries of failed ones, and charts of the last days and months."""
from __future__ import annotations

import datetime as dt
from collections import defaultdict

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import func, select

from gateway.core import clock
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from gateway.core.fields import FieldError, date as read_date
from gateway.messages import enqueue_pending
from gateway.core.models import MESSAGE_STATUSES, Client, Message
from gateway.interfaces.console import actions, bp, charts, scope
from gateway.interfaces.console.auth import actor
from gateway.interfaces.console.views import int_arg, zone

PAGE_SIZE = 50
REASONS_LOOKBACK = dt.timedelta(days=90)
CHART_DAYS = 30
COST_MONTHS = 12


def _utc_bounds(day: dt.date, zone_name: str) -> dt.datetime:
    """The naive-UTC moment a local day begins."""
    return clock.utc_of_local(day, 0, zone_name)


@bp.get("/messages")
def messages():
    zone_name = zone()
    values = {k: request.args.get(k, "").strip() for k in ("status", "reason", "direction", "from", "to")}
    errors: dict[str, str] = {}
    query = scope.visible_messages()
    if values["status"]:
        if values["status"] in MESSAGE_STATUSES:
            query = query.where(Message.status == values["status"])
        else:
            errors["status"] = "choose a status from the list"
    if values["direction"] in ("in", "out"):
        query = query.where(Message.direction == values["direction"])
    if values["reason"]:
        query = query.where(Message.failure_reason == values["reason"][:64])
    for key, compare in (("from", lambda start: Message.created_at >= start),
                         ("to", lambda end: Message.created_at < end)):
        if values[key]:
            try:
                day = read_date(values[key])
            except FieldError as exc:
                errors[key] = str(exc)
                continue
            query = query.where(compare(_utc_bounds(day + dt.timedelta(days=1 if key == "to" else 0), zone_name)))
    before = int_arg("before")
    if before:
        query = query.where(Message.id < before)
    rows = [] if errors else db.session.scalars(query.order_by(Message.id.desc()).limit(PAGE_SIZE + 1)).all()
    more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    clients = {c.id: c for c in db.session.scalars(scope.visible_clients().where(
        Client.id.in_({m.client_id for m in rows if m.client_id})))}
    since = clock.utcnow() - REASONS_LOOKBACK
    reasons = db.session.scalars(scope.visible_messages().with_only_columns(Message.failure_reason).where(
        Message.failure_reason.is_not(None), Message.created_at >= since).distinct()
        .order_by(Message.failure_reason).limit(50)).all()
    older = None
    if more:
        older = url_for("console.messages", **{k: v for k, v in values.items() if v}, before=rows[-1].id)
    return render_template("console/messages.html", rows=rows, clients=clients, values=values, errors=errors,
                           statuses=MESSAGE_STATUSES, reasons=reasons, older=older, zone_name=zone_name,
                           newest=url_for("console.messages", **{k: v for k, v in values.items() if v})), \
        422 if errors else 200


@bp.post("/messages/<int:message_id>/retry")
def message_retry(message_id: int):
    message = scope.message_or_404(message_id)
    try:
        actions.retry_message(message, actor())
    except ValidationError as exc:
        db.session.rollback()
        flash(f"Message {message_id} not retried: {next(iter(exc.fields.values()), exc.message)}.", "error")
    else:
        db.session.commit()
        enqueue_pending()
        flash(f"Message {message_id} queued again.", "ok")
    target = request.form.get("next", "")
    return redirect(target if target.startswith("/console/") else url_for("console.messages"))


# --- charts -----------------------------------------------------------------------------------------

def _scoped(query):
    if current_user.is_admin:
        return query
    return query.where(Message.client_id.in_(scope.visible_client_ids()))


def _per_day(column, since: dt.datetime, *conditions) -> dict[str, int]:
    day = func.date(column)
    rows = db.session.execute(_scoped(select(day, func.count()).where(
        Message.direction == "out", column >= since, *conditions).group_by(day))).all()
    return {str(d)[:10]: n for d, n in rows if d is not None}


def daily_counts(days: int = CHART_DAYS) -> tuple[list[str], dict[str, list[int]]]:
    """Per UTC day of the last ``days``: messages sent (accepted), delivered, and failed."""
    today = clock.today_utc()
    first = today - dt.timedelta(days=days - 1)
    since = dt.datetime.combine(first, dt.time())
    sent = _per_day(Message.sent_at, since)
    delivered = _per_day(Message.delivered_at, since)
    # A failure's moment is its last change: AT's report, or the last refused attempt.
    failed = _per_day(Message.updated_at, since, Message.status == "failed")
    labels = [(first + dt.timedelta(days=i)).isoformat() for i in range(days)]
    return labels, {"sent": [sent.get(d, 0) for d in labels], "delivered": [delivered.get(d, 0) for d in labels],
                    "failed": [failed.get(d, 0) for d in labels]}


def monthly_costs(months: int = COST_MONTHS) -> dict[str, tuple[list[str], list[float]]]:
    """Per currency: the last ``months`` calendar months (UTC) and what AT charged in each."""
    today = clock.today_utc()
    labels = []
    year, month = today.year, today.month
    for _ in range(months):
        labels.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    labels.reverse()
    since = dt.datetime(int(labels[0][:4]), int(labels[0][5:]), 1)
    day = func.date(Message.sent_at)
    rows = db.session.execute(_scoped(select(day, Message.cost_currency, func.sum(Message.cost_amount)).where(
        Message.direction == "out", Message.sent_at >= since, Message.cost_amount.is_not(None))
        .group_by(day, Message.cost_currency))).all()
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for d, currency, amount in rows:
        totals[currency or "?"][str(d)[:7]] += float(amount or 0)
    return {currency: (labels, [round(by_month.get(m, 0.0), 2) for m in labels])
            for currency, by_month in sorted(totals.items())}


def _short_day(iso: str) -> str:
    return dt.date.fromisoformat(iso).strftime("%d %b")


@bp.get("/messages/stats")
def message_stats():
    labels, series = daily_counts()
    daily = charts.grouped_bars("SMS per day, last 30 days (UTC)", [_short_day(d) for d in labels], series,
                                label_every=5, fmt=lambda v: f"{v:g}")
    costs = []
    for currency, (months, amounts) in monthly_costs().items():
        chart = charts.grouped_bars(f"SMS cost per month ({currency})", [m[2:] for m in months],
                                    {currency: amounts}, label_every=2, fmt=lambda v: f"{v:,.2f}")
        costs.append((currency, chart, list(zip(months, amounts))))
    totals = {name: sum(values) for name, values in series.items()}
    table = list(zip(labels, series["sent"], series["delivered"], series["failed"]))
    return render_template("console/stats.html", daily=daily, table=table, totals=totals, costs=costs)
