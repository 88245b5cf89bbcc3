"""The start page at ``/``: what this server is, and the way into the coordinator console.

Signed-in console users go straight to their dashboard.
"""
from __future__ import annotations

from flask import Blueprint, current_app, redirect, render_template_string, url_for
from flask_login import current_user

bp = Blueprint("web", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reminder gateway</title>
<link rel="stylesheet" href="{{ url_for('console.static', filename='console/console.css') }}">
<link rel="icon" href="data:,">
</head><body><main>
<h1>USSD and SMS reminder gateway</h1>
<p>Clients dial <code>{{ s.ussd_service_code }}</code>. SMS backend: <code>{{ s.sms_backend }}</code>.</p>
<p><a class="button" href="{{ url_for('console.login') }}">Sign in to the coordinator console</a></p>
<ul>
<li><a href="{{ url_for('health.healthz') }}">Health</a> (database and Redis)</li>
<li>JSON API under <code>/api/v1</code> (bearer tokens: <code>flask --app wsgi users create-token EMAIL</code>)</li>
</ul>
</main></body></html>"""


@bp.get("/")
def index():
    if current_user.is_authenticated:
        return redirect(url_for("console.today"))
    return render_template_string(_PAGE, s=current_app.config["SETTINGS"])


def init_app(app) -> None:
    app.register_blueprint(bp)
