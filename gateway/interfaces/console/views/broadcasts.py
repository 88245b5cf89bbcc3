"""Broadcasts: write one discreet message to a set of your clients, see its checks and reach, confirm, send.

Three steps, each a plain form post: the form (``GET /broadcasts``), the
preview (``POST /broadcasts/preview``: nothing is written) and the send
(``POST /broadcasts``: checked again, then written and queued). Past
broadcasts are listed under the form with their delivery counts.
"""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user

from gateway.messages import broadcasts
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from jobs import enqueue_pending
from gateway.interfaces.console import bp, scope
from gateway.interfaces.console.auth import actor

def sender() -> broadcasts.Sender:
    """The signed-in user as a broadcast's sender (coordinators: limited to their sites)."""
    return broadcasts.Sender(user_id=current_user.user.id, actor=actor(),
                             site_ids=None if current_user.is_admin else frozenset(current_user.site_ids))


def _values() -> dict[str, str]:
    values = {name: request.form.get(name, "") for name in broadcasts.FIELDS}
    values["urgent"] = "yes" if values["urgent"] == "yes" else ""
    return values


def _page(values: dict[str, str], errors: dict[str, str], preview=None, status: int = 200):
    who = sender()
    return render_template("console/broadcasts.html", values=values, errors=errors, preview=preview,
                           sites=scope.visible_sites(), past=broadcasts.history(who),
                           max_segments=broadcasts.MAX_SEGMENTS), status


@bp.get("/broadcasts")
def broadcasts_page():
    return _page({"text": "", "audience": "all", "site_id": "", "visit_date": "", "urgent": ""}, {})


@bp.post("/broadcasts/preview")
def broadcast_preview():
    """Check the text and count the recipients; nothing is written."""
    values = _values()
    try:
        checked = broadcasts.parse(values, sender())
    except ValidationError as exc:
        return _page(values, exc.fields, status=422)
    preview = broadcasts.preview(checked, sender())
    return _page(values, preview.problems, preview, 422 if preview.problems else 200)


@bp.post("/broadcasts")
def broadcast_send():
    values = _values()
    try:
        checked = broadcasts.parse(values, sender())
        sent = broadcasts.send(checked, sender())
    except ValidationError as exc:
        db.session.rollback()
        return _page(values, exc.fields, status=422)
    db.session.commit()
    enqueue_pending()
    flash(f"Broadcast queued for {sent.recipients} client{'s' if sent.recipients != 1 else ''}; "
          "each gets it in her send window.", "ok")
    return redirect(url_for("console.broadcasts_page"), 303)
