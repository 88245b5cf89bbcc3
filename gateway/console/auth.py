"""Signing in and out, who may open which page, and the login rate limit.

A signed-in person is an ``Account``: a thin wrapper that gives the ``User``
row what Flask-Login expects, without touching the model. Its session id
carries a fingerprint of the password hash, so a changed password or a
deactivated user ends every session at once.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import logging
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import UserMixin, current_user, login_user, logout_user
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash

from gateway.core import audit
from gateway import users
from gateway.adapters.database import db
from gateway.core.models import User
from gateway.adapters.redis_store import get_redis
from gateway.interfaces.console import bp, login_manager

log = logging.getLogger(__name__)

# Sign-in failures allowed per email and address within the window, then a pause.
MAX_FAILURES = 5
FAILURE_WINDOW_SECONDS = 15 * 60


class Account(UserMixin):
    """The signed-in user, as Flask-Login sees it."""

    def __init__(self, user: User):
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{_fingerprint(self.user)}"

    @property
    def is_active(self) -> bool:
        return bool(self.user.active)

    @property
    def is_admin(self) -> bool:
        return self.user.role == "admin"

    @property
    def site_ids(self) -> frozenset[int]:
        return frozenset(site.id for site in self.user.sites)

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return f"user:{self.user.id}"


@functools.cache
def _dummy_hash() -> str:
    """A hash to check against when the email is unknown, so both paths take as long."""
    return generate_password_hash("not anybody's password")


def _fingerprint(user: User) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, (user.password_hash or "").encode(), hashlib.sha256).hexdigest()[:16]


@login_manager.user_loader
def load_account(session_id: str) -> Account | None:
    user_id, _, fingerprint = session_id.partition(":")
    if not user_id.isdigit():
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or not user.password_hash:
        return None
    if not hmac.compare_digest(fingerprint, _fingerprint(user)):
        return None  # the password changed since this session began
    return Account(user)


login_manager.login_view = "console.login"
login_manager.login_message = "Please sign in to see that page."
login_manager.login_message_category = "info"


def actor() -> str:
    return current_user.actor


def admin_required(view):
    """Only admins may open this page; coordinators get 403."""
    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)
    return wrapped


OPEN_ENDPOINTS = {"console.login", "console.static"}


@bp.before_request
def _require_sign_in():
    if request.endpoint in OPEN_ENDPOINTS or current_user.is_authenticated:
        return None
    if request.method != "GET":
        # Coming back to a form's address after signing in would be a GET it cannot answer.
        flash("Your session had ended: sign in, then send the form again.", "info")
        return redirect(url_for("console.login"))
    return login_manager.unauthorized()


@bp.after_request
def _security_headers(response):
    # Pages carry clients' names, numbers and dates, often on shared laptops:
    # never cached, never framed, nothing loaded from anywhere but here.
    if request.endpoint != "console.static":
        response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'")
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


# --- the login rate limit ---------------------------------------------------------------------

def _failure_key(email: str) -> str:
    who = f"{email.strip().lower()}|{request.remote_addr or '-'}"
    return "console:login-failures:" + hashlib.sha256(who.encode()).hexdigest()[:32]


def _locked_minutes(email: str) -> int | None:
    """Minutes until this email may try again from this address, or None if it may now."""
    try:
        conn = get_redis()
        key = _failure_key(email)
        failures = int(conn.get(key) or 0)
        if failures < MAX_FAILURES:
            return None
        return max(1, -(-conn.ttl(key) // 60))
    except Exception:  # Redis down: let people work; the password check still stands
        log.warning("login rate limit unavailable (Redis)", exc_info=True)
        return None


def _note_failure(email: str) -> None:
    try:
        conn = get_redis()
        key = _failure_key(email)
        with conn.pipeline() as pipe:
            # The window starts at the first failure (SET NX) and INCR keeps its expiry: a fixed window.
            pipe.set(key, 0, ex=FAILURE_WINDOW_SECONDS, nx=True)
            pipe.incr(key)
            pipe.execute()
    except Exception:
        log.warning("could not count a failed sign-in (Redis)", exc_info=True)


def _forget_failures(email: str) -> None:
    try:
        get_redis().delete(_failure_key(email))
    except Exception:
        log.warning("could not clear failed sign-ins (Redis)", exc_info=True)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: never another host (an open redirect)."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and target.startswith("/") and not target.startswith("//") \
                and "\\" not in target:
            return target
    return url_for("console.today")


def _plain_http_warning() -> bool:
    """True when served over plain HTTP to a host other than this machine: the Secure cookie won't stick."""
    host = request.host.rsplit(":", 1)[0].strip("[]")
    return not request.is_secure and host not in ("127.0.0.1", "localhost", "::1")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    values = {"email": request.form.get("email", "")}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        email = values["email"].strip().lower()
        password = request.form.get("password", "")
        minutes = _locked_minutes(email)
        if minutes is not None:
            errors["form"] = (f"Too many failed sign-ins for this email. Wait {minutes} minute"
                              f"{'s' if minutes != 1 else ''} and try again, or ask an admin.")
            status = 429
        elif not email or not password:
            errors["form"] = "Enter your email and password."
            status = 400
        else:
            user = db.session.scalar(select(User).where(User.email == email))
            if user is None:
                check_password_hash(_dummy_hash(), password)  # same work as a real check
            if user is not None and users.check_password(user, password):
                _forget_failures(email)
                session.clear()  # a fresh session: no id fixation across sign-ins
                login_user(Account(user))
                session.permanent = True
                audit.record(f"user:{user.id}", "user.signed_in", "user", user.id, None)
                db.session.commit()
                return redirect(_safe_next(request.args.get("next")))
            _note_failure(email)
            log.info("failed console sign-in")
            errors["form"] = "That email and password do not match an active account."
            status = 401
    return render_template("console/login.html", values=values, errors=errors,
                           plain_http=_plain_http_warning()), status


@bp.post("/logout")
def logout():
    audit.record(actor(), "user.signed_out", "user", current_user.user.id, None)
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are signed out.", "info")
    return redirect(url_for("console.login"))


@bp.context_processor
def _globals():
    return {"is_admin": bool(current_user.is_authenticated and current_user.is_admin)}
