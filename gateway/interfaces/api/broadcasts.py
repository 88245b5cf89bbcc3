"""``/api/v1/broadcasts``: one discreet message to many clients, previewed or sent, and the list of past ones."""
from __future__ import annotations

from flask import g, jsonify

from gateway.messages import broadcasts
from gateway.core import fields
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from jobs import enqueue_pending
from gateway.interfaces.api import bp, json_body


def _sender() -> broadcasts.Sender:
    """The token's user as a sender: an admin reaches every client, a coordinator her own sites' clients."""
    site_ids = None if g.user.role == "admin" else frozenset(s.id for s in g.user.sites)
    return broadcasts.Sender(user_id=g.user.id, actor=g.actor, site_ids=site_ids)


@bp.post("/broadcasts")
def create_broadcast():
    """``"preview": true`` answers what it would do (200, nothing written); else it is sent (201)."""
    body = dict(json_body())
    try:
        preview_only = fields.boolean(body.pop("preview", None), default=False)
    except fields.FieldError as exc:
        preview_only = False
        problem = {"preview": str(exc)}
    else:
        problem = {}
    try:
        checked = broadcasts.parse(body, _sender())
    except ValidationError as exc:
        raise ValidationError(exc.message, {**exc.fields, **problem}) from None
    if problem:
        raise ValidationError("some fields are not valid", problem)
    if preview_only:
        return jsonify(broadcasts.preview_json(broadcasts.preview(checked, _sender()))), 200
    sent = broadcasts.send(checked, _sender())
    db.session.commit()
    enqueue_pending()
    return jsonify(broadcasts.to_json(broadcasts.Sent(sent, 0, 0, sent.recipients, 0))), 201


@bp.get("/broadcasts")
def list_broadcasts():
    """The latest 100 broadcasts the token's user may see, newest first, with their copies' outcomes."""
    return jsonify({"broadcasts": [broadcasts.to_json(s) for s in broadcasts.history(_sender())]})
