"""Signing in and out, roles, the login rate limit, CSRF and cookie settings, through HTTP."""
from __future__ import annotations

import re

from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Client


def test_pages_need_a_sign_in(web, people):
    r = web.get("/console/clients")
    assert r.status_code == 302 and r.headers["Location"].startswith("/console/login?next=")
    assert web.get("/console/login").status_code == 200


def test_sign_in_and_out(web, people):
    r = web.login("NURSE@example.org ")  # emails are matched as typed anywhere
    assert r.status_code == 302 and r.headers["Location"] == "/console/"
    assert "Today at Khayelitsha CHC" in web.text("/console/")
    r = web.post("/console/logout")
    assert r.status_code == 302 and r.headers["Location"] == "/console/login"
    assert web.get("/console/").status_code == 302
    actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.actor == f"user:{people['nurse'].id}"))
    assert list(actions) == ["user.signed_in", "user.signed_out"]


def test_wrong_password_or_unknown_email_says_the_same(web, people):
    wrong = web.login("nurse@example.org", "wrong password!")
    unknown = web.login("nobody@example.org", "wrong password!")
    assert wrong.status_code == unknown.status_code == 401
    assert "do not match an active account" in wrong.get_data(as_text=True)
    assert "do not match an active account" in unknown.get_data(as_text=True)


def test_session_cookie_is_secure_httponly_samesite(web, people):
    r = web.login("nurse@example.org")
    cookie = next(v for v in r.headers.getlist("Set-Cookie") if v.startswith("gateway_session="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_pages_are_not_cached_or_framed(as_role):
    r = as_role("nurse").get("/console/clients")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in r.headers["Content-Security-Policy"]


def test_login_rate_limit_per_email_and_address(web, people):
    for _ in range(5):
        assert web.login("nurse@example.org", "wrong password!").status_code == 401
    # The sixth try is refused even with the right password, with a clear message.
    r = web.login("nurse@example.org")
    assert r.status_code == 429
    assert re.search(r"Too many failed sign-ins for this email\. Wait 1[45] minutes", r.get_data(as_text=True))
    # Another email from the same address, and the same email from another address, still work.
    assert web.login("other@example.org").status_code == 302
    web.post("/console/logout")
    assert web.login("nurse@example.org", environ_base={"REMOTE_ADDR": "10.1.2.3"}).status_code == 302


def test_a_success_clears_the_failures(web, people):
    for _ in range(4):
        web.login("nurse@example.org", "wrong password!")
    assert web.login("nurse@example.org").status_code == 302
    web.post("/console/logout")
    for _ in range(4):
        assert web.login("nurse@example.org", "wrong password!").status_code == 401
    assert web.login("nurse@example.org").status_code == 302


def test_next_only_leads_inside_the_site(web, people):
    for target in ("//evil.example/x", "https://evil.example/", "/\\evil.example"):
        r = web.login("nurse@example.org", url=f"/console/login?next={target}")
        assert r.headers["Location"] == "/console/"
        web.post("/console/logout")
    r = web.login("nurse@example.org", url="/console/login?next=/console/messages")
    assert r.headers["Location"] == "/console/messages"


def test_csrf_refuses_a_form_without_its_token(as_role, sites, enrol):
    nurse = as_role("nurse")
    client = enrol(sites[0], "082 123 4567", "Thandi")
    r = nurse.post_without_token(f"/console/clients/{client.id}/details",
                                 {"name": "Changed", "phone": client.phone, "language": "en", "reminder_hour": "9"})
    assert r.status_code == 400 and "The form expired" in r.get_data(as_text=True)
    assert nurse.post_without_token("/console/logout").status_code == 400
    assert nurse.post("/console/logout", {"csrf_token": "forged"}).status_code == 400
    assert db.session.get(Client, client.id).name == "Thandi"
    # With its token the same form goes through.
    r = nurse.post(f"/console/clients/{client.id}/details", {"name": "Changed", "phone": client.phone,
                                                             "language": "en", "reminder_hour": "9"})
    assert r.status_code == 302


def test_the_api_and_callbacks_need_no_csrf_token(client, admin_headers):
    r = client.post("/api/v1/clients", json={"consent": True, "phone": "082 123 4567"}, headers=admin_headers)
    assert r.status_code == 201
    r = client.post("/sms/inbound", data={"from": "+27821234567", "to": "12345", "text": "hello", "id": "in-1",
                                          "date": "2025-11-25 09:00:00"})
    assert r.status_code == 200


def test_a_deactivated_user_is_signed_out_at_once(as_role, people):
    nurse = as_role("nurse")
    people["nurse"].active = False
    db.session.commit()
    assert nurse.get("/console/clients").status_code == 302


def test_a_changed_password_ends_other_sessions(as_role, people):
    nurse = as_role("nurse")
    admin = as_role("admin")
    r = admin.post(f"/console/users/{people['nurse'].id}", {
        "name": "Nomsa Nurse", "role": "coordinator", "sites": [str(s.id) for s in people["nurse"].sites],
        "active": "yes", "password": "a brand new password", "phone": "", "pin": ""})
    assert r.status_code == 302
    assert nurse.get("/console/clients").status_code == 302
    assert nurse.login("nurse@example.org", "a brand new password").status_code == 302


def test_a_form_sent_after_the_session_ended_leads_to_sign_in(web, people, app):
    app.config["WTF_CSRF_ENABLED"] = False  # reach the sign-in check itself, past the token check
    try:
        r = web.post_without_token("/console/clients/1/pin-reset")
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert r.status_code == 302 and r.headers["Location"] == "/console/login"
    assert "Your session had ended" in web.text("/console/login")
