"""No PIN typed on the phone sits in Redis: the session record keeps each answer as a keyed digest.

AT sends the whole path (``4*4*2580*1111``) with every request; the record
kept it as it came for the session's lifetime. It now keeps a digest of each
answer, and no state holding a new PIN between two screens. Retries, late
retries and the newest answer are found as before (the other session tests).
"""
from __future__ import annotations

import redis

from tests.ussd.conftest import CLIENT_PHONE, COORDINATOR_PHONE

OLD_PIN, NEW_PIN = "2580", "1111"


def _redis_text(app) -> str:
    conn = redis.Redis.from_url(app.config["SETTINGS"].redis_url)
    values = []
    for key in conn.scan_iter():
        kind = conn.type(key)
        if kind == b"string":
            values.append(conn.get(key))
        elif kind == b"hash":
            values.extend(b"%s=%s" % pair for pair in conn.hgetall(key).items())
        values.append(key)
    return b"\n".join(values).decode("utf-8", "replace")


def test_no_redis_value_holds_a_pin_at_any_step(app, at, make_client):
    make_client(language="en", pin=OLD_PIN, art={"last_dispensed": "2025-11-01", "days_supply": 30})
    session = at(CLIENT_PHONE)
    session.dial()
    for answer, screen in [("4", "CON My settings"), ("4", "CON Enter your 4-digit PIN"),
                           (OLD_PIN, "CON Choose a 4-digit PIN"), (NEW_PIN, "CON Enter the same PIN again"),
                           (NEW_PIN, "END Your PIN is saved.")]:
        assert session.send(answer).startswith(screen)
        kept = _redis_text(app)
        assert OLD_PIN not in kept and NEW_PIN not in kept, kept
    # AT's retry of the last request still gets the same screen, and nothing is done twice.
    assert session.repeat() == "END Your PIN is saved. Keep it secret."
    assert at(CLIENT_PHONE).play("1", NEW_PIN).startswith("END Your next visits:")
    assert OLD_PIN not in _redis_text(app) and NEW_PIN not in _redis_text(app)


def test_a_retry_while_a_new_pin_waits_for_its_repeat_is_answered_the_same(at, make_client):
    make_client(language="en")
    session = at(CLIENT_PHONE)
    session.play("4", "4")
    assert session.send(NEW_PIN) == "CON Enter the same PIN again:\n0. Back"
    assert session.repeat() == "CON Enter the same PIN again:\n0. Back"
    assert session.send("1112") == "CON The PINs do not match.\nEnter the same PIN again:\n0. Back"
    assert session.send(NEW_PIN) == "END Your PIN is saved. Keep it secret."


def test_a_coordinators_pin_is_not_kept_either(app, at, make_coordinator):
    make_coordinator(pin="2468")
    session = at(COORDINATOR_PHONE)
    session.dial()
    session.send("1")
    session.send("2468")
    assert "2468" not in _redis_text(app)
