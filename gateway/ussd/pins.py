"""PINs on the phone: what the step checks against (a ``menus.PinLedger``), and storing its attempts after it.

A client's failures and lock are columns of her row; a coordinator's are kept
in Redis beside her sessions. The rule is the same for both
(``menus.check_pin_attempt``): the step applies it in memory; ``store`` applies
the same attempts again to the stored counts under a lock (a client's row) or
at once (Redis), audits a new lock and commits. Every PIN checked is stored,
typed live or inside a replayed path, so a fresh session whose ``text``
already holds guesses counts them all.
"""
from __future__ import annotations

import datetime as dt

import redis
from werkzeug.security import check_password_hash

import menus
from gateway import users
from gateway.adapters.database import db
from gateway.core import audit, clock
from gateway.core.models import User

USER_PIN_PREFIX = "ussd:pin:user:"
USER_PIN_TTL = 24 * 3600  # a coordinator's count is forgotten a day after her last attempt


def _matcher(pin_hash: str | None):
    def matches(pin: str) -> bool:
        return bool(pin_hash) and check_password_hash(pin_hash, pin)
    return matches


def ledger_for(caller) -> menus.PinLedger | None:
    """The PIN as this request's step sees it (None for an unknown caller: no PIN)."""
    now = clock.utcnow()
    if caller.kind == "client":
        def read_client():  # her row, read only when she types a PIN
            client = caller.client
            return _matcher(client.ussd_pin_hash), client.pin_failures or 0, client.pin_locked_until
        return menus.PinLedger(read_client, caller.view.pin_locked_until, now)
    if caller.kind == "coordinator" and caller.user.ussd_pin_hash:
        failures, until = UserPins(caller.user).read()
        return menus.PinLedger(lambda: (_matcher(caller.user.ussd_pin_hash), failures, until), until, now)
    return None


def store(caller, ledger: menus.PinLedger | None) -> None:
    """Store the attempts the step made (none: nothing to do). Commits."""
    if ledger is None or not ledger.attempts:
        return
    if caller.kind == "client":
        _store_client(caller, ledger)
    else:
        UserPins(caller.user).store(ledger)


def _store_client(caller, ledger: menus.PinLedger) -> None:
    client, now = caller.client, clock.utcnow()
    # Read the counters under a row lock: two sessions of one client must not lose a failure.
    db.session.refresh(client, with_for_update=True)
    failures, until = client.pin_failures or 0, client.pin_locked_until
    for matched, _ in ledger.attempts:
        attempt = menus.check_pin_attempt(matched, failures, until, now)
        if attempt.locked_until is not None and attempt.locked_until != until:
            audit.record(caller.actor, "client.pin_locked", "client", client.id,
                         {"until": attempt.locked_until.isoformat(timespec="seconds")})
        failures, until = attempt.failures, attempt.locked_until
    if (failures, until) != (client.pin_failures, client.pin_locked_until):
        client.pin_failures, client.pin_locked_until = failures, until
    caller.saw_change()
    db.session.commit()


class UserPins:
    """A coordinator's PIN failures and lock in Redis. A Redis error is not read as "no failures": it
    propagates, and the caller is told the service is unavailable rather than given unlimited guesses."""

    def __init__(self, user: User):
        self.user = user
        self.key = f"{USER_PIN_PREFIX}{user.id}"

    def _conn(self) -> redis.Redis:
        from gateway.ussd.sessions import connection

        return connection()

    def read(self) -> tuple[int, dt.datetime | None]:
        data = self._conn().hgetall(self.key)
        failures = int(data.get(b"failures", 0) or 0)
        until = data.get(b"locked_until")
        return failures, (dt.datetime.fromisoformat(until.decode()) if until else None)

    def store(self, ledger: menus.PinLedger) -> None:
        now = clock.utcnow()
        failures, until = self.read()
        first_until = until
        right_pin = None
        for matched, pin in ledger.attempts:
            attempt = menus.check_pin_attempt(matched, failures, until, now)
            failures, until = attempt.failures, attempt.locked_until
            if attempt.verdict == "ok":
                right_pin = pin
        conn = self._conn()
        if failures == 0 and until is None:
            conn.delete(self.key)
        else:
            pipe = conn.pipeline()
            pipe.hset(self.key, mapping={"failures": failures, "locked_until": until.isoformat() if until else ""})
            pipe.expire(self.key, USER_PIN_TTL)
            pipe.execute()
        actor = f"ussd:user:{self.user.id}"
        if until is not None and until != first_until:
            audit.record(actor, "user.pin_locked", "user", self.user.id, {"until": until.isoformat(timespec="seconds")})
        if right_pin is not None and not users.pin_hash_is_current(self.user.ussd_pin_hash):
            # A PIN kept the slow way (scrypt, before users.PIN_HASH_METHOD): kept the quick way from now on.
            self.user.ussd_pin_hash = users.hash_pin(right_pin)
            audit.record(actor, "user.pin_rehashed", "user", self.user.id, {"method": users.PIN_HASH_METHOD})
        db.session.commit()
