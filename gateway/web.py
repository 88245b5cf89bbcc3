"""The start page at ``/``: what this server is and where its parts live.

The coordinator console grows here (sign-in, clients, today, delivery).
"""
from __future__ import annotations

from flask import Blueprint, current_app, render_template_string

bp = Blueprint("web", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Reminder gateway</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:1rem auto;padding:0 1rem}code{background:#eee;padding:0 .2rem}</style>
</head><body>
<h1>USSD and SMS reminder gateway</h1>
<p>Clients dial <code>{{ s.ussd_service_code }}</code>. SMS backend: <code>{{ s.sms_backend }}</code>.</p>
<ul>
<li><a href="{{ url_for('health.healthz') }}">Health</a> (database and Redis)</li>
<li>JSON API under <code>/api/v1</code> (bearer tokens: <code>flask --app wsgi users create-token EMAIL</code>)</li>
</ul>
</body></html>"""


@bp.get("/")
def index():
    return render_template_string(_PAGE, s=current_app.config["SETTINGS"])
