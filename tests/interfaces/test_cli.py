"""The command line: users, tokens, sites, first admin."""
from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import ApiToken, AuditEntry, Site, User


def test_users_create_and_token_round_trip(client, runner):
    r = runner.invoke(args=["users", "create", "nurse@example.org", "--role", "admin", "--password", "long enough pw"])
    assert r.exit_code == 0, r.output
    assert "created admin nurse@example.org" in r.output
    r = runner.invoke(args=["users", "create-token", "NURSE@example.org"])
    token = r.output.strip()
    assert r.exit_code == 0 and token.startswith("gw_")
    assert client.get("/api/v1/clients/1", headers={"Authorization": f"Bearer {token}"}).status_code == 404
    r = runner.invoke(args=["users", "revoke-tokens", "nurse@example.org"])
    assert "revoked 1 token" in r.output
    assert client.get("/api/v1/clients/1", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    actions = set(db.session.scalars(select(AuditEntry.action)))
    assert {"user.created", "token.created", "token.revoked"} <= actions


def test_coordinator_with_phone_pin_and_site(runner):
    assert runner.invoke(args=["sites", "create", "Khayelitsha", "--country", "za"]).exit_code == 0
    site = db.session.scalar(select(Site))
    assert site.timezone == "Africa/Johannesburg"
    r = runner.invoke(args=["users", "create", "mm@example.org", "--password", "-", "--phone", "082 123 4567",
                            "--pin", "1234", "--site", str(site.id)])
    assert r.exit_code == 0, r.output
    user = db.session.scalar(select(User).where(User.email == "mm@example.org"))
    assert user.phone == "+27821234567" and user.password_hash is None
    assert user.ussd_pin_hash and "1234" not in user.ussd_pin_hash
    assert [s.name for s in user.sites] == ["Khayelitsha"]


def test_bad_user_input_names_the_field_and_creates_nothing(runner):
    r = runner.invoke(args=["users", "create", "not-an-email", "--password", "short", "--pin", "12a4",
                            "--phone", "011 123 4567", "--site", "99"])
    assert r.exit_code != 0
    for field in ("email:", "password:", "pin:", "phone:", "site:"):
        assert field in r.output
    assert db.session.scalar(select(User)) is None
    runner.invoke(args=["users", "create", "a@example.org", "--password", "long enough pw"])
    r = runner.invoke(args=["users", "create", "a@example.org", "--password", "long enough pw"])
    assert r.exit_code != 0 and "email: already exists" in r.output
    r = runner.invoke(args=["users", "create-token", "nobody@example.org"])
    assert r.exit_code != 0 and "no user" in r.output
    assert db.session.scalar(select(ApiToken)) is None
    r = runner.invoke(args=["sites", "create", "X", "--country", "XX"])
    assert r.exit_code != 0 and "country" in r.output


def test_ensure_admin_creates_one_admin_and_prints_its_login(app, runner):
    first = runner.invoke(args=["users", "ensure-admin"])
    assert first.exit_code == 0 and "First admin login: admin@example.org / " in first.output
    password = first.output.split(" / ")[1].split()[0]
    from gateway.users import check_password, get_by_email

    assert check_password(get_by_email("admin@example.org"), password)
    second = runner.invoke(args=["users", "ensure-admin"])
    assert password in second.output
    assert len(db.session.scalars(select(User).where(User.role == "admin")).all()) == 1


def test_users_create_without_a_terminal_asks_for_password_option(runner):
    # README: from a script (no terminal to prompt on) --password must be given; nothing is created without it.
    r = runner.invoke(args=["users", "create", "nurse@example.org"], input="")
    assert r.exit_code != 0 and "give --password" in r.output
    assert db.session.scalar(select(User).where(User.email == "nurse@example.org")) is None
def test_send_due_now_alone_means_this_moment(runner):
    """``reminders send-due --now`` (no value) is the quick way to try reminders: a pass at this moment."""
    r = runner.invoke(args=["reminders", "send-due", "--now"])
    assert r.exit_code == 0, r.output
    assert "claimed 0 due reminders" in r.output and "sent 0" in r.output
    r = runner.invoke(args=["reminders", "send-due", "--now", "2026-03-02 07:05"])
    assert r.exit_code == 0 and "claimed 0" in r.output, r.output
    r = runner.invoke(args=["reminders", "send-due", "--now", "yesterday"])
    assert r.exit_code != 0 and "--now" in r.output and "YYYY-MM-DDTHH:MM" in r.output
