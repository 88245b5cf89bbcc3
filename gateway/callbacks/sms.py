"""``POST /sms/delivery`` and ``POST /sms/inbound``."""
from __future__ import annotations

from flask import current_app

from gateway import messages as messaging
from gateway.adapters.database import db
from gateway.core.phones import PhoneError, normalise
from gateway.interfaces.callbacks import BadCallback, bp, form


@bp.post("/sms/delivery")
def delivery_report():
    fields = form("id", "status", optional=("phoneNumber", "networkCode", "failureReason", "retryCount"))
    try:
        changed = messaging.delivery_report(fields["id"].strip(), fields["status"].strip(),
                                            (fields.get("failureReason") or "").strip() or None)
    except LookupError as exc:
        raise BadCallback(str(exc), 404) from None
    except ValueError as exc:
        raise BadCallback(str(exc)) from None
    db.session.commit()
    return ("ok\n" if changed else "ok (no change)\n"), 200, {"Content-Type": "text/plain"}


@bp.post("/sms/inbound")
def inbound_sms():
    fields = form("from", "id", optional=("to", "text", "date", "linkId", "networkCode"))
    try:
        phone = normalise(fields["from"], current_app.config["SETTINGS"].default_country)
    except PhoneError as exc:
        raise BadCallback(f"from: {exc}") from None
    messaging.inbound(phone, fields.get("text", ""), fields["id"].strip(), to=fields.get("to"))
    db.session.commit()
    messaging.enqueue_pending()
    return "ok\n", 200, {"Content-Type": "text/plain"}
