"""Floors for bench/ussd_floor.py: Flask apps that do only the I/O a USSD request of the gateway must do.

    gunicorn -c gunicorn.conf.py bench.floor_app:session_app     (from the repository's root)

Each parses AT's callback with the gateway's own parser and answers the bare
endpoint's fixed ``CON`` screen (bench/bare_app.py); in between it does one
part of what every request of the gateway pays before its menus, wording or
effects cost anything, with the gateway's own code and settings
(``create_app``'s configuration, its database session and Redis client):

- ``redis_app``: the session's lock taken with its record read, and released
  with a new record written (``gateway.ussd.sessions.SessionStore``: two Redis
  round trips);
- ``database_app``: the caller looked up (``gateway.ussd.context._who_has``,
  the one query of a first screen) on every request;
- ``session_app``: both, with the look-up on a session's first request only,
  as the gateway does (later screens recall a client or an unknown number
  from the record; the gateway reads a coordinator's row again on each
  screen, this floor does not: 2 % of bench/ussd.py's sessions).

Not part of the gateway; nothing here is served in production.
"""
from __future__ import annotations

from flask import Flask, Response

from bench.bare_app import SCREEN
from gateway import create_app
from gateway.interfaces.callbacks.ussd import AtUssdCallback
from gateway.adapters.database import db
from gateway.core.phones import normalise
from gateway.ussd import context, sessions

# The gateway's configuration (database URL and engine options, Redis URL), read once from the environment.
_GATEWAY_CONFIG = create_app().config


def _floor(name: str, lookup: str | None, store: bool) -> Flask:
    """A floor app: ``lookup`` is None, "always" or "first" (a session's first request); ``store``: Redis."""
    app = Flask(name)
    app.config.update(_GATEWAY_CONFIG)
    db.init_app(app)  # the gateway's own session class: a read ends with COMMIT (extensions.Session)

    @app.post("/ussd")
    def ussd() -> Response:
        callback = AtUssdCallback.from_form()
        phone = normalise(callback.phone_number, app.config["SETTINGS"].default_country)
        if lookup == "always" or (lookup == "first" and not callback.text):
            context._who_has(phone)
        if store:
            with sessions.SessionStore(sessions.connection()).locked(callback.session_id) as held:
                held.keep(sessions.SessionRecord(phone=phone, path=callback.text, state={"screen": "main"},
                                                 reply_text=SCREEN[4:], reply_end=False,
                                                 caller={"client": 1}))
        return Response(SCREEN, content_type="text/plain; charset=utf-8")

    @app.get("/healthz")
    def healthz() -> Response:
        return Response("ok", content_type="text/plain")

    return app


redis_app = _floor("floor_redis", None, True)
database_app = _floor("floor_database", "always", False)
session_app = _floor("floor_session", "first", True)
