"""The JSON API (``/api/v1``): bearer-token auth and JSON errors for every failure."""
from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import yaml
from flask import Blueprint, current_app, g, jsonify, request
from werkzeug.exceptions import HTTPException

from gateway.core.errors import GatewayError, ValidationError
from gateway.adapters.database import db
from gateway.core import clock, fields
from gateway import users

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def error(status: int, message: str, fields: dict | None = None):
    return jsonify({"error": message, "fields": fields or {}}), status


@bp.errorhandler(GatewayError)
def _gateway_error(exc: GatewayError):
    db.session.rollback()
    return error(exc.status, exc.message, exc.fields)


@bp.app_errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    """JSON for every HTTP error under /api/ (routing 404s and 405s included); others as Flask renders them."""
    if not request.path.startswith(bp.url_prefix + "/"):
        return exc
    db.session.rollback()
    return error(exc.code or 500, exc.description or exc.name)


@bp.before_request
def _authenticate():
    if request.endpoint == "api.openapi":
        return None  # the description holds no data: a client may read it before it has a token
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return error(401, "missing bearer token", {"Authorization": "send 'Authorization: Bearer <token>'"})
    found = users.authenticate_token(token.strip())
    if found is None:
        return error(401, "invalid or revoked token", {"Authorization": "token not recognised"})
    g.user, g.token = found
    g.actor = f"token:{g.token.id}"
    now = clock.utcnow()
    if g.token.last_used_at is None or (now - g.token.last_used_at).total_seconds() > 60:
        # Its own small transaction, at most once a minute a token, so reads stay reads.
        g.token.last_used_at = now
        db.session.commit()
    _refuse_control(request.args)  # the query string, as json_body checks the body


def json_body() -> dict:
    """The request's JSON object, or a 4xx naming what is wrong with it."""
    settings = current_app.config["SETTINGS"]
    if request.content_length is not None and request.content_length > settings.max_json_bytes:
        raise GatewayError(f"the body is larger than {settings.max_json_bytes} bytes", {"body": "too large"})
    if not request.is_json:
        raise GatewayError("send JSON with Content-Type: application/json", {"body": "must be JSON"})
    raw = request.get_data(cache=True)
    if len(raw) > settings.max_json_bytes:
        raise GatewayError(f"the body is larger than {settings.max_json_bytes} bytes", {"body": "too large"})
    # Each of these was a 500 once: strict UTF-8 first, since json.loads lets UTF-8-encoded surrogates
    # (b"\xed\xa0\x80") through; RecursionError for arrays nested deeper than the parser goes.
    try:
        raw.decode("utf-8")
        data = request.get_json(force=True, silent=False)
    except (HTTPException, UnicodeDecodeError, RecursionError):
        raise GatewayError("the body is not valid JSON (UTF-8)", {"body": "not valid JSON"}) from None
    if not isinstance(data, dict):
        raise GatewayError("the body must be a JSON object", {"body": "must be a JSON object"})
    if _SURROGATE_ESCAPE.search(raw) and not _encodable(data):
        # An escaped "\ud800" alone is JSON but no text: the database fails on it. Pairs are fine.
        raise GatewayError("the body is not valid JSON (UTF-8)", {"body": "has an unpaired surrogate (\\udXXX)"})
    _refuse_control(data)
    return data


def _refuse_control(values) -> None:
    """A 422 naming the first field that holds a control character (a NUL was a 500 on PostgreSQL)."""
    try:
        name = fields.first_with_control(values)
    except RecursionError:
        raise GatewayError("the body is nested too deeply", {"body": "nested too deeply"}) from None
    if name is not None:
        raise ValidationError(f"{name} {fields.CONTROL_REASON}", {name: fields.CONTROL_REASON})


_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _encodable(data) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, RecursionError):
        return False
    return True


@bp.get("/openapi.json")
def openapi():
    """This API's OpenAPI 3.1 description (``openapi.yaml`` beside this file), as JSON."""
    return jsonify(openapi_document())


@functools.cache
def openapi_document() -> dict:
    return yaml.safe_load(Path(__file__).with_name("openapi.yaml").read_text(encoding="utf-8"))


from gateway.interfaces.api import broadcasts, clients, indicators  # noqa: E402,F401  (routes register on bp)


def init_app(app) -> None:
    app.register_blueprint(bp)
