"""Sessions that really end, deactivation that sticks, changing one's own password, the per-address sign-in limit.

Each test replays what an attacker holding an old cookie or token would send,
through Flask's test client against the real database and Redis.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from gateway import users
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, User

from tests.interfaces.console.conftest import PASSWORD, Session

COOKIE = "gateway_session"


def saved_cookie(session: Session) -> str:
    return session.http.get_cookie(COOKIE).value


def replay(app, cookie: str, url: str = "/console/clients"):
    """A fresh browser that sends only a cookie saved earlier."""
    thief = Session(app.test_client())
    thief.http.set_cookie(COOKIE, cookie)
    return thief.get(url)


def refused(response) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/console/login")


def user_form(user: User, **changes) -> dict:
    form = {"name": user.name or "", "role": user.role, "sites": [str(s.id) for s in user.sites],
            "active": "yes" if user.active else "", "password": "", "phone": "", "pin": ""}
    return form | changes


# --- sign-out ---------------------------------------------------------------------------------------

def test_a_cookie_saved_before_sign_out_opens_nothing_after_it(app, as_role, enrol, sites):
    client = enrol(sites[0], "082 123 4567", "Zodwa")
    nurse = as_role("nurse")
    assert "Zodwa" in nurse.text(f"/console/clients/{client.id}")
    cookie = saved_cookie(nurse)
    assert nurse.post("/console/logout").status_code == 302
    r = replay(app, cookie, f"/console/clients/{client.id}")
    assert refused(r) and "Zodwa" not in r.get_data(as_text=True)


def test_sign_out_ends_her_sessions_on_other_browsers_too(app, as_role):
    laptop, phone = as_role("nurse"), as_role("nurse")
    laptop.post("/console/logout")
    assert refused(phone.get("/console/clients"))
    assert as_role("nurse").get("/console/clients").status_code == 200  # signing in again works


def test_sign_out_ends_only_her_own_sessions(as_role):
    nurse, other = as_role("nurse"), as_role("other")
    nurse.post("/console/logout")
    assert other.get("/console/clients").status_code == 200


# --- deactivation --------------------------------------------------------------------------------------

def test_reactivating_a_user_revives_neither_her_sessions_nor_her_tokens(app, as_role, people, client):
    nurse = people["nurse"]
    cookie = saved_cookie(as_role("nurse"))
    token = users.issue_token(nurse, "test")
    db.session.commit()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/clients/0", headers=bearer).status_code == 404  # signed in: no such client

    admin = as_role("admin")
    assert admin.post(f"/console/users/{nurse.id}", user_form(nurse, active="")).status_code == 302
    assert refused(replay(app, cookie))
    assert client.get("/api/v1/clients/0", headers=bearer).status_code == 401
    assert admin.post(f"/console/users/{nurse.id}", user_form(nurse, active="yes")).status_code == 302

    assert refused(replay(app, cookie))
    assert client.get("/api/v1/clients/0", headers=bearer).status_code == 401
    db.session.refresh(nurse)
    assert all(t.revoked_at is not None for t in nurse.tokens)
    revoked = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "token.revoked")).all()
    assert [e.entity_id for e in revoked] == [nurse.tokens[0].id]
    # She signs in afresh and is issued new tokens: those work.
    assert as_role("nurse").get("/console/clients").status_code == 200


# --- her own password ------------------------------------------------------------------------------------

NEW = "correct horse battery staple"


def change(session: Session, current=PASSWORD, new=NEW, confirm=None):
    return session.post("/console/account", {"current_password": current, "new_password": new,
                                             "confirm_password": new if confirm is None else confirm})


def test_a_coordinator_changes_her_own_password(app, as_role, people, web):
    nurse, elsewhere = as_role("nurse"), as_role("nurse")
    assert "Change your password" in nurse.text("/console/account")
    r = change(nurse)
    assert r.status_code == 302 and r.headers["Location"] == "/console/account"
    assert "Your password is changed" in nurse.text("/console/account")
    assert nurse.get("/console/clients").status_code == 200  # this browser stays signed in
    assert refused(elsewhere.get("/console/clients"))  # every other session ended
    assert web.login("nurse@example.org", PASSWORD).status_code == 401
    assert web.login("nurse@example.org", NEW).status_code == 302
    entry = db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.password_changed"))
    assert entry.actor == f"user:{people['nurse'].id}" and entry.entity_id == people["nurse"].id
    assert NEW not in str(entry.changes) and PASSWORD not in str(entry.changes)


@pytest.mark.parametrize("current, new, confirm, field, message", [
    ("not my password", NEW, NEW, "current_password", "is not your current password"),
    (PASSWORD, NEW, NEW + "!", "confirm_password", "does not match the new password"),
    (PASSWORD, "1234567890", "1234567890", "new_password", "must be at least 12 characters"),
    (PASSWORD, "nurse at the clinic", "nurse at the clinic", "new_password", "must not contain your email"),
    (PASSWORD, PASSWORD, PASSWORD, "new_password", "must differ from your current password"),
])
def test_a_refused_change_names_the_field_and_changes_nothing(as_role, people, current, new, confirm, field,
                                                                message):
    nurse = as_role("nurse")
    before = people["nurse"].password_hash
    r = change(nurse, current, new, confirm)
    page = r.get_data(as_text=True)
    assert r.status_code == 422 and re.search(f'id="err-{field}">[^<]*{message}', page), page
    assert all(f'value="{secret}"' not in page for secret in (current, new, confirm))  # never sent back
    db.session.refresh(people["nurse"])
    assert people["nurse"].password_hash == before
    assert nurse.get("/console/clients").status_code == 200
    assert db.session.scalar(select(AuditEntry).where(AuditEntry.action == "user.password_changed")) is None


def test_guessing_the_current_password_counts_as_failed_sign_ins(as_role):
    nurse = as_role("nurse")
    for _ in range(5):
        assert change(nurse, "guess " * 3).status_code == 422
    r = change(nurse)
    assert r.status_code == 429 and "Too many failed" in r.get_data(as_text=True)


def test_an_admin_reset_ends_her_sessions_and_checks_the_password(app, as_role, people):
    nurse_session = as_role("nurse")
    admin = as_role("admin")
    nurse = people["nurse"]
    r = admin.post(f"/console/users/{nurse.id}", user_form(nurse, password="aaaaaaaaaaaaaa"))
    assert r.status_code == 422 and 'id="err-password">' in r.get_data(as_text=True)
    assert nurse_session.get("/console/clients").status_code == 200
    assert admin.post(f"/console/users/{nurse.id}", user_form(nurse, password=NEW)).status_code == 302
    assert refused(nurse_session.get("/console/clients"))


# --- sign-in limit per address ----------------------------------------------------------------------------

def test_one_address_cannot_try_a_password_against_many_emails(web, people):
    from gateway.interfaces.console.auth import MAX_FAILURES_PER_ADDRESS

    emails = [f"someone{i}@example.org" for i in range(MAX_FAILURES_PER_ADDRESS - 1)] + ["nurse@example.org"]
    for email in emails:
        assert web.login(email, "Summer2026!!").status_code == 401
    # Now every email is refused from this address, known or not, with the right password or not, alike.
    answers = [web.login(email, password) for email, password in
               [("other@example.org", PASSWORD), ("nobody@example.org", PASSWORD), ("admin@example.org", "x" * 12)]]
    texts = {re.search(r'class="error" role="alert">([^<]+)<', a.get_data(as_text=True)).group(1) for a in answers}
    assert {a.status_code for a in answers} == {429} and len(texts) == 1
    assert re.search(r"Too many failed sign-ins from this network\. Wait 1[45] minutes", texts.pop())
    # Another address is not affected.
    assert web.login("other@example.org", environ_base={"REMOTE_ADDR": "10.9.8.7"}).status_code == 302


def test_a_success_does_not_clear_the_address_count(web, people):
    """An attacker with one account of her own must not reset the count by signing in between guesses."""
    from gateway.interfaces.console.auth import MAX_FAILURES_PER_ADDRESS

    for i in range(MAX_FAILURES_PER_ADDRESS):
        web.login(f"someone{i}@example.org", "Summer2026!!")
        if i % 4 == 3 and i < MAX_FAILURES_PER_ADDRESS - 1:
            assert web.login("other@example.org").status_code == 302
            web.post("/console/logout")
    assert web.login("other@example.org").status_code == 429


@pytest.fixture
def behind_a_proxy(app, settings):
    """The gateway as deployed behind one reverse proxy (PROXY_HOPS=1), on the test database and Redis."""
    from gateway import create_app

    proxied = create_app(settings.replace(proxy_hops=1))
    proxied.config["TESTING"] = True
    yield proxied
    with proxied.app_context():
        db.engine.dispose()


def test_behind_a_proxy_each_client_address_has_its_own_count(behind_a_proxy, people):
    from gateway.interfaces.console.auth import MAX_FAILURES_PER_ADDRESS

    web = Session(behind_a_proxy.test_client())
    attacker = {"REMOTE_ADDR": "10.0.0.1"}  # every request reaches the gateway from the proxy's address
    for i in range(MAX_FAILURES_PER_ADDRESS):
        web.login(f"someone{i}@example.org", "Summer2026!!", environ_base=attacker,
                  headers={"X-Forwarded-For": "198.51.100.7"})
    r = web.login("other@example.org", environ_base=attacker, headers={"X-Forwarded-For": "198.51.100.7"})
    assert r.status_code == 429
    r = web.login("other@example.org", environ_base=attacker, headers={"X-Forwarded-For": "203.0.113.9"})
    assert r.status_code == 302  # another clinic behind the same proxy signs in
