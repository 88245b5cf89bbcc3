"""``/api/v1/clients``: enrol, read, change and bulk-import clients."""
from __future__ import annotations

from functools import partial

from flask import current_app, g, jsonify, request
from sqlalchemy import select

from gateway import access, appointments
from gateway.interfaces import events
from gateway.core import audit, fields
from gateway.clients import enrolment, erasure, importer, transfers
from gateway.core.errors import Forbidden, GatewayError, NotFound, ValidationError
from gateway.adapters.database import db
from gateway.core.models import Client, Site
from gateway.interfaces.api import bp, json_body



def visible_client(client_id: int) -> Client:
    """The client if this token's user may see her; coordinators see only their sites' clients."""
    client = db.session.get(Client, client_id) if client_id <= fields.MAX_ID else None  # else the driver overflows: a 500
    if client is None or not _may_see(client):
        raise NotFound("no such client")
    return client


def _may_see(client: Client) -> bool:
    return access.may_see(g.user, client)


def _site_for_new_client(requested: int | None) -> int | None:
    """Which site a new client joins: as asked (if allowed), or a coordinator's only site."""
    if g.user.role == "admin":
        if requested is not None and (not 0 < requested <= fields.MAX_ID or db.session.get(Site, requested) is None):
            # Else the insert fails on the foreign key: a 500, not a 422 naming the field.
            raise ValidationError("no such site", {"site_id": "no such site"})
        return requested
    mine = {s.id for s in g.user.sites}
    if requested is None:
        if len(mine) == 1:
            return next(iter(mine))
        raise ValidationError("say which site", {"site_id": "is required (you coordinate several sites)"}
                              if mine else {"site_id": "you coordinate no site; ask an admin"})
    if requested not in mine:
        raise ValidationError("not your site", {"site_id": "is not one of your sites"})
    return requested


@bp.post("/clients")
def create_client():
    settings = current_app.config["SETTINGS"]
    data = enrolment.parse_enrolment(json_body(), settings.default_country)
    data.site_id = _site_for_new_client(data.site_id)
    elsewhere = _enrolled_elsewhere(data)
    if elsewhere is not None:
        transfers.request_transfer(elsewhere, data.site_id, g.actor)
        db.session.commit()
        return jsonify(transfers.PENDING), 202
    client = enrolment.enrol(data, g.actor)
    appointments.refresh(client)
    db.session.commit()
    return jsonify(enrolment.to_json(client)), 201


def _read(client: Client) -> Client:
    """Audit this token's read of her record (committed at once: a read has no other transaction)."""
    audit.viewed(g.actor, client.id, "api")
    db.session.commit()
    return client


def _enrolled_elsewhere(data: enrolment.EnrolmentData) -> Client | None:
    """For a coordinator: the client enrolled with this number at a site she does not see, else None."""
    return None if g.user.role == "admin" else transfers.held_elsewhere(data, _may_see)


def _number_held_elsewhere(client: Client, changes: dict) -> Client | None:
    """For a coordinator changing a phone: the client enrolled with the new number whom she may not see."""
    if g.user.role == "admin" or not changes.get("phone") or changes["phone"] == client.phone:
        return None
    holder = db.session.scalar(select(Client).where(Client.phone == changes["phone"], Client.id != client.id))
    return holder if holder is not None and not _may_see(holder) else None


@bp.get("/clients/<int:client_id>")
def get_client(client_id: int):
    return jsonify(enrolment.to_json(_read(visible_client(client_id))))


@bp.patch("/clients/<int:client_id>")
def patch_client(client_id: int):
    client = visible_client(client_id)
    changes = enrolment.parse_changes(json_body(), client)
    if "site_id" in changes:
        changes["site_id"] = _site_for_new_client(changes["site_id"])
    holder = _number_held_elsewhere(client, changes)
    if holder is not None:  # answered as any change waiting for an admin: nothing says where the number is
        transfers.request_phone_change(client, holder, g.actor)
        db.session.commit()
        return jsonify(transfers.PENDING), 202
    if enrolment.update(client, changes, g.actor):
        appointments.replan(client)  # opt-out, reminder hour or site (time zone) may have moved them
    db.session.commit()
    return jsonify(enrolment.to_json(client))


@bp.delete("/clients/<int:client_id>")
def erase_client(client_id: int):
    """Erase her and everything that names her (admins only); a second call is a 404."""
    if g.user.role != "admin":
        raise Forbidden("only an admin may erase a client", {"role": "admin required"})
    visible_client(client_id)
    erasure.erase(client_id, g.actor)
    return "", 204


@bp.post("/clients/<int:client_id>/events")
def client_event(client_id: int):
    client = visible_client(client_id)
    result = appointments.record_event(client, events.parse(json_body(), partial(appointments.event_problems, client)), g.actor)
    db.session.commit()
    return jsonify({**result, **appointments.schedule_json(client)}), 201


@bp.get("/clients/<int:client_id>/schedule")
def client_schedule(client_id: int):
    return jsonify(appointments.schedule_json(_read(visible_client(client_id))))


@bp.get("/clients")
def find_clients():
    """Look a client up by phone (any local or international form): ``?phone=082 123 4567``."""
    from gateway.core.phones import PhoneError, normalise

    raw = request.args.get("phone")
    if not raw:
        raise ValidationError("give ?phone=", {"phone": "is required"})
    country = (request.args.get("country") or current_app.config["SETTINGS"].default_country).upper()
    try:
        phone = normalise(raw, country)
    except PhoneError as exc:
        raise ValidationError("bad phone", {"phone": str(exc)}) from None
    client = db.session.scalar(select(Client).where(Client.phone == phone))
    found = [_read(client)] if client is not None and _may_see(client) else []
    return jsonify({"clients": [enrolment.to_json(c) for c in found]})


@bp.post("/clients/import")
def import_clients():
    settings = current_app.config["SETTINGS"]
    if request.mimetype not in ("text/csv", "application/csv", "text/plain"):
        raise GatewayError("send the CSV with Content-Type: text/csv", {"body": "must be text/csv"})
    if request.content_length is not None and request.content_length > settings.max_upload_bytes:
        raise GatewayError("the file is too large", {"body": f"at most {settings.max_upload_bytes} bytes"})
    try:  # not type=int: that reads "?site_id=1O" as no site at all
        site_id = fields.integer(request.args.get("site_id"), 1, fields.MAX_ID)
    except fields.FieldError as exc:
        raise ValidationError("bad site_id", {"site_id": str(exc)}) from None
    site_id = _site_for_new_client(site_id)
    report = importer.import_csv(request.stream, default_country=settings.default_country, actor=g.actor,
                                 site_id=site_id, batch_size=settings.import_batch_size,
                                 visible_sites=None if g.user.role == "admin" else access.site_ids_of(g.user))
    db.session.commit()
    if report.imported:
        _plan_soon()
    return jsonify(report.to_json()), 200


def _plan_soon() -> None:
    """Ask a worker to compute the new clients' schedules now; else the periodic job does within minutes."""
    import logging

    from jobs import enqueue_plan_ahead

    try:
        enqueue_plan_ahead()
    except Exception:  # Redis unreachable: the periodic plan-ahead job catches up
        logging.getLogger(__name__).warning("could not enqueue plan_ahead after an import", exc_info=True)
