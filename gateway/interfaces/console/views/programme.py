"""Programme: each indicator of a month with its trend over the last year, the clients behind each number,
CSV exports, and whether the visits whose reminder was delivered were kept on time more often."""
from __future__ import annotations

import csv
import io

from flask import abort, render_template, request
from flask_login import current_user

from gateway.core import audit, clock
from gateway import indicators
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from gateway.core.phones import masked
from gateway.interfaces.console import bp, charts, scope
from gateway.interfaces.console.auth import actor

TREND_MONTHS = 13  # this month and the twelve before it
SHOWN_ROWS = 500  # rows of a line list shown on the page; its CSV has them all (to LINE_LIST_LIMIT)
GROUP_LABELS = {indicators.DELIVERED: "Reminder delivered", indicators.SENT: "Reminder sent, no delivery report",
                indicators.NOT_DELIVERED: "Reminder failed or never sent"}
# The columns of a line list as the page and the CSV show them (the phone always masked).
COLUMN_LABELS = {"client_id": "Client id", "client_name": "Name", "phone": "Phone", "site": "Site",
                 "kind": "Visit", "name": "Dose or test", "due_date": "Due", "status": "Status", "done_on": "Done",
                 "infant_id": "Infant id", "date_of_birth": "Born", "sent_at": "Sent",
                 "delivered_at": "Delivered", "failure_reason": "Failure", "enrolled_at": "Enrolled"}


def _choice():
    """(the site chosen or None for all, the site ids counted or None for everything, the sites offered)."""
    sites = scope.visible_sites()
    raw = request.args.get("site", "all")
    if raw not in ("", "all"):
        if not raw.isdigit() or len(raw) > 10:
            abort(404)
        site = scope.site_or_404(int(raw))
        return site, [site.id], sites
    return None, (None if current_user.is_admin else [s.id for s in sites]), sites


def _period() -> indicators.Period:
    raw = request.args.get("period", "")
    today = clock.today_utc()
    return indicators.parse_period(raw, today) if raw else indicators.Period(today.year, today.month)


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:.0f}%" if whole else "–"


def _numbers():
    """The site(s) and month asked, and every indicator of that month and the twelve before it."""
    site, site_ids, sites = _choice()
    period = _period()  # a ValidationError here: the callers answer 422
    months = indicators.last_months(period, TREND_MONTHS)
    return site, site_ids, sites, period, months, indicators.totals(indicators.compute(months, site_ids))


@bp.get("/programme")
def programme():
    try:
        site, site_ids, sites, period, months, values = _numbers()
    except ValidationError as exc:
        return render_template("console/programme.html", error=exc.fields.get("period", exc.message),
                               sites=scope.visible_sites(), site=None, cards=[], comparisons=[], period=None), 422
    cards = []
    for code, indicator in indicators.definitions().items():
        series = [values[code][m.label] for m in months]
        number = series[-1]
        rate = None
        if indicator.denominator:
            whole = values[indicator.denominator][period.label]
            rate = (whole, _percent(number, whole))
        chart = charts.grouped_bars(f"{indicator.name}, {months[0]} to {months[-1]}",
                                    [m.label[2:] for m in months], {indicator.name: series}, label_every=3,
                                    category_title=lambda label: "20" + label)
        cards.append({"indicator": indicator, "number": number, "rate": rate, "chart": chart,
                      "table": list(zip([m.label for m in months], series))})
    comparisons = []
    for code, indicator in indicators.definitions().items():
        if indicator.compare_reminders:
            result = indicators.reminder_comparison(code, period, site_ids)
            rows = [(GROUP_LABELS[g], result.due.get(g, 0), result.on_time.get(g, 0),
                     _percent(result.on_time.get(g, 0), result.due.get(g, 0))) for g in indicators.REMINDER_GROUPS]
            comparisons.append({"indicator": indicator, "rows": rows})
    return render_template("console/programme.html", cards=cards, comparisons=comparisons, period=period,
                           site=site, sites=sites, error=None, this_month=clock.today_utc().strftime("%Y-%m"))


@bp.get("/programme.csv")
def programme_csv():
    """Every indicator of the last thirteen months, one row a month, for the site(s) chosen."""
    try:
        site, _, _, period, months, values = _numbers()
    except ValidationError as exc:
        return exc.fields.get("period", exc.message), 422, {"Content-Type": "text/plain; charset=utf-8"}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["month", *values])
    for month in months:
        writer.writerow([month.label, *(values[code][month.label] for code in values)])
    return _csv(out.getvalue(), f"indicators-{site.id if site else 'all'}-{period}.csv")


def _csv(text: str, filename: str):
    return text, 200, {"Content-Type": "text/csv; charset=utf-8",
                       "Content-Disposition": f'attachment; filename="{filename}"'}


def _line_list(code: str):
    if code not in indicators.definitions():
        abort(404)
    site, site_ids, sites = _choice()
    period = _period()  # a ValidationError here: the callers answer 422
    found = indicators.line_list(code, period, site_ids)
    names = {s.id: s.name for s in sites}
    columns = [c if c != "site_id" else "site" for c in found.columns]
    rows = []
    for row in found.rows:
        row = dict(row)
        row["phone"] = masked(row["phone"]) if row["phone"] else ""
        row["site"] = names.get(row.pop("site_id"), "no site")
        rows.append(row)
    return indicators.definitions()[code], site, sites, period, columns, rows, found.truncated


@bp.get("/programme/<code>")
def programme_list(code: str):
    try:
        indicator, site, sites, period, columns, rows, truncated = _line_list(code)
    except ValidationError as exc:
        return render_template("console/programme.html", error=exc.fields.get("period", exc.message),
                               sites=scope.visible_sites(), site=None, cards=[], comparisons=[], period=None), 422
    return render_template("console/programme_list.html", indicator=indicator, site=site, period=period,
                           columns=columns, labels=COLUMN_LABELS, rows=rows[:SHOWN_ROWS], count=len(rows),
                           shown=SHOWN_ROWS, truncated=truncated)


@bp.get("/programme/<code>.csv")
def programme_list_csv(code: str):
    try:
        indicator, site, _, period, columns, rows, truncated = _line_list(code)
    except ValidationError as exc:
        return exc.fields.get("period", exc.message), 422, {"Content-Type": "text/plain; charset=utf-8"}
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([COLUMN_LABELS.get(c, c) + (" (UTC)" if c.endswith("_at") else "") for c in columns])
    for row in rows:
        writer.writerow(["" if row.get(c) is None else row.get(c) for c in columns])
    # A list of clients leaves the gateway: who took it, and which, is kept.
    audit.record(actor(), "indicator.list_exported", "site", site.id if site else None,
                 {"indicator": code, "period": period.label, "rows": len(rows)})
    db.session.commit()
    return _csv(out.getvalue(), f"{code}-{site.id if site else 'all'}-{period}.csv")
