"""The password rules: long enough, not common, not a pattern, not the email's name; used by every way in."""
from __future__ import annotations

import pytest

from gateway import passwords, users
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from gateway.core.models import User

EMAIL = "nomsa.dlamini@example.org"


@pytest.mark.parametrize("password, reason", [
    ("1234567890", "must be at least 12 characters"),
    ("aaaaaaaaaa", "must be at least 12 characters"),
    ("aaaaaaaaaaaaaaaa", "one character repeated"),
    ("abcabcabcabcabc", "a short pattern repeated"),
    ("123456789012", "a simple sequence"),
    ("9876543210987", "a simple sequence"),
    ("abcdefghijklmnop", "a simple sequence"),
    ("qwertyuiopasdf", "a simple sequence"),
    ("qwerty123456", "one of the most common passwords"),
    ("QWERTY123456", "one of the most common passwords"),
    ("password2026!!", "a common password with digits or signs added"),
    ("!!Iloveyou1990", "a common password with digits or signs added"),
    ("nomsa.dlamini2026", "must not contain your email"),
    ("I am NOMSA.DLAMINI", "must not contain your email"),
])
def test_weak_passwords_are_refused_with_the_reason(password, reason):
    assert reason in passwords.problem(password, EMAIL)


@pytest.mark.parametrize("password", [
    "a long password", "correct horse battery staple", "Zodwa picks up on Tuesdays", "7x!kd93mzp0q",
    "nomsa likes tea",  # "nomsa" alone is not the whole local part
])
def test_good_passwords_pass(password):
    assert passwords.problem(password, EMAIL) is None


def test_the_shipped_list_is_read_and_lower_case():
    common = passwords.common_passwords()
    assert len(common) > 10_000
    assert {"password", "123456", "iloveyou", "qwerty123456"} <= common
    assert all(p == p.lower() for p in common)


def test_a_short_local_part_is_not_held_against_a_password():
    assert passwords.problem("a long password for al", "al@example.org") is None


def test_creating_a_user_with_a_weak_password_names_the_field_and_creates_nothing(app):
    for weak in ("1234567890", "aaaaaaaaaa", "123456789012", "aaaaaaaaaaaa"):
        with pytest.raises(ValidationError) as caught:
            users.create_user("nurse@example.org", "coordinator", weak, "test")
        assert "password" in caught.value.fields
        db.session.rollback()
    assert db.session.query(User).count() == 0


def test_the_cli_refuses_a_common_password(runner):
    r = runner.invoke(args=["users", "create", "nurse@example.org", "--password", "password123!"])
    assert r.exit_code != 0 and "password: is a common password with digits or signs added" in r.output
    r = runner.invoke(args=["users", "create", "nurse@example.org", "--password", "1234567890"])
    assert r.exit_code != 0 and "password: must be at least 12 characters" in r.output
    assert db.session.query(User).count() == 0
