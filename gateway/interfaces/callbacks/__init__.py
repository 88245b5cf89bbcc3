"""Africa's Talking callbacks: the only code that knows AT's field names and reply formats.

Each callback parses AT's form fields into plain values, calls a domain
service, and answers. Malformed or unknown callbacks get a short 4xx text,
never a 500, and change nothing. AT signs nothing, so when CALLBACK_TOKEN is
set every callback must carry ``?token=<value>``.
"""
from __future__ import annotations

import hmac
import urllib.parse

from flask import Blueprint, current_app, request
from werkzeug.exceptions import HTTPException

from gateway.adapters.database import db
from gateway.core import fields

bp = Blueprint("callbacks", __name__)


class BadCallback(Exception):
    def __init__(self, reason: str, status: int = 400):
        super().__init__(reason)
        self.reason, self.status = reason, status


class ControlCharacter(BadCallback):
    """A field holding a control character: refused before anything reads it."""


@bp.before_request
def _check_token():
    expected = current_app.config["SETTINGS"].callback_token
    if expected and not hmac.compare_digest(request.args.get("token", ""), expected):
        return "forbidden: wrong or missing token\n", 403, {"Content-Type": "text/plain"}
    return None


@bp.errorhandler(BadCallback)
def _bad(exc: BadCallback):
    db.session.rollback()
    return f"{exc.reason}\n", exc.status, {"Content-Type": "text/plain"}


@bp.errorhandler(HTTPException)
def _http(exc: HTTPException):
    db.session.rollback()
    return f"{exc.name}\n", exc.code, {"Content-Type": "text/plain"}


# More fields than this is not a callback of AT's (they carry at most a dozen).
MAX_FORM_FIELDS = 100


def form(*required: str, optional: tuple[str, ...] = (), max_len: int = 1000,
         answers: tuple[str, ...] = ()) -> dict[str, str]:
    """AT's form fields as a dict; a missing required field, an oversized one or one holding a control
    character (other than tab and line breaks) is a 400 naming it. ``answers`` are fields of what a caller
    typed, left as typed: the USSD menus refuse any wrong answer themselves and ask again."""
    if request.mimetype == "application/x-www-form-urlencoded":
        received = _urlencoded()
    elif request.mimetype == "multipart/form-data":
        received = request.form
    else:
        raise BadCallback("expected a form-encoded POST")
    values = {}
    for name in required + optional:
        value = received.get(name)
        if value is None or (name in required and not value.strip()):
            if name in required:
                raise BadCallback(f"missing field: {name}")
            continue
        if len(value) > max_len:
            raise BadCallback(f"field too long: {name}")
        if name not in answers and fields.has_control(value):  # a NUL was a 500 on PostgreSQL, its traceback a phone number in the log
            raise ControlCharacter(f"{name}: {fields.CONTROL_REASON}")
        values[name] = value
    return values


def _urlencoded() -> dict[str, str]:
    """A urlencoded body's fields, the first of each name (as ``request.form.get`` reads them).

    Read with the standard library: AT's callbacks are a few short fields on
    every USSD step, and werkzeug's form parser costs three times as much
    (docs/performance.md). Bytes that are not UTF-8 read as U+FFFD (werkzeug
    gave such a body no fields at all, so its callback was a 400 for a
    missing field).
    """
    body = request.get_data(cache=True).decode("utf-8", "replace")
    try:
        pairs = urllib.parse.parse_qsl(body, keep_blank_values=True, encoding="utf-8", errors="replace",
                                       max_num_fields=MAX_FORM_FIELDS)
    except ValueError:
        raise BadCallback(f"more than {MAX_FORM_FIELDS} form fields") from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


from gateway.interfaces.callbacks import sms  # noqa: E402,F401  (routes register on bp)
from gateway.interfaces.callbacks import ussd  # noqa: E402,F401  (routes register on bp)


def init_app(app) -> None:
    app.register_blueprint(bp)
