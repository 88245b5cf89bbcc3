"""Account: a signed-in user changes her own password."""
from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user

from gateway import users
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from gateway.passwords import MIN_LENGTH
from gateway.interfaces.console import bp
from gateway.interfaces.console.auth import Account, actor, note_failure, refusal

PASSWORD_FIELDS = ("current_password", "new_password", "confirm_password")


def _page(errors: dict, status: int = 200):
    # Nothing typed is sent back: the three fields are passwords.
    return render_template("console/account.html", errors=errors, min_length=MIN_LENGTH), status


@bp.get("/account")
def account():
    return _page({})


@bp.post("/account")
def account_password():
    user = current_user.user
    # Whoever holds a session could guess at its password here: the same limit as signing in.
    refused = refusal(user.email)
    if refused:
        return _page({"form": refused}, 429)
    current, new, confirm = (request.form.get(name, "") for name in PASSWORD_FIELDS)
    try:
        users.change_own_password(user, current, new, confirm, actor())
    except ValidationError as exc:
        db.session.rollback()
        if "current_password" in exc.fields:
            note_failure(user.email)
        return _page(exc.fields, exc.status)
    db.session.commit()
    # Every session of hers ended with the change; this one goes on under the new version.
    login_user(Account(user))
    flash("Your password is changed. You are signed out everywhere else.", "ok")
    return redirect(url_for("console.account"))
