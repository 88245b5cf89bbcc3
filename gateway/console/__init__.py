"""The coordinator console: server-rendered pages under ``/console`` for coordinators and admins.

``init_app`` binds sign-in (Flask-Login), CSRF protection on every form
(Flask-WTF), hardened session cookies and the console blueprint. Pages call
the domain services (enrolment, appointments, messaging, importer, users);
the few changes no service offered yet live in ``actions``. Every page reads
clients through ``scope.visible_clients`` so a coordinator only ever sees the
clients of her own sites. See docs/console.md.
"""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

bp = Blueprint("console", __name__, url_prefix="/console", template_folder="templates",
               static_folder="static", static_url_path="/static")
login_manager = LoginManager()
csrf = CSRFProtect()

# Blueprints that machines call with tokens (bearer tokens, AT's callback token),
# never a browser with a session cookie: a CSRF token means nothing to them.
MACHINE_BLUEPRINTS = ("api", "callbacks", "ussd")

# A shared laptop at a clinic: a session ends after this long without use.
SESSION_LIFETIME = dt.timedelta(hours=8)


def init_app(app: Flask) -> None:
    """Bind sign-in, CSRF and cookie settings to ``app`` and register the console."""
    app.config.update(
        SESSION_COOKIE_NAME="gateway_session",
        SESSION_COOKIE_SECURE=True,  # browsers treat 127.0.0.1 / localhost as secure, so `make run` still works
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_SECURE=True,
        REMEMBER_COOKIE_HTTPONLY=True,
        REMEMBER_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=SESSION_LIFETIME,
        # A form left open over a long clinic morning must still post: the token lives as long as the session.
        WTF_CSRF_TIME_LIMIT=None,
    )
    login_manager.init_app(app)
    csrf.init_app(app)
    for name in MACHINE_BLUEPRINTS:
        if name in app.blueprints:
            csrf.exempt(app.blueprints[name])
    app.register_blueprint(bp)


from gateway.interfaces.console import auth, views  # noqa: E402,F401  (the login loader and the routes register on bp)
