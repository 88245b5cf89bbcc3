"""Fault drill: PostgreSQL stopped (``pg_ctl stop -m fast``) mid-dispatch, down a few seconds, started again.

Never the machine's shared server (CI runs the suite on it): a private
cluster of Debian's PostgreSQL binaries in a temporary folder, on a free
loopback port (tests/faults/drills.py, ``PrivatePostgres``). Real workers
send 2,000 reminders through it; they must outlive the outage. Afterwards the
verdict: every reminder sent once or pending with a retry time, nothing lost,
and duplicates only among messages whose request was cut by the stop (the
crash window: a request AT accepted whose outcome could not be committed).
Runs the same whatever store the suite runs on (its Redis is used).
"""
import json
import os
import random

import pytest

from gateway import create_app
from gateway.adapters.database import db
from tests.faults import drills
from tests.faults.conftest import CAP

SEED = int(os.environ.get("DRILL_SEED") or random.SystemRandom().randrange(10 ** 6))


@pytest.fixture
def private_postgres():
    reason = drills.PrivatePostgres.unavailable()
    if reason:
        pytest.skip(f"no private PostgreSQL cluster for the restart drill: {reason}")
    pg = drills.PrivatePostgres()
    try:
        pg.start()
        yield pg
    finally:
        pg.close()


def test_postgres_stopped_and_started_mid_dispatch(at, settings, private_postgres, tmp_path):
    url = private_postgres.create_database("drill")
    app = create_app(settings.replace(database_url=url, sms_backend="africastalking", at_username="sandbox",
                                      at_api_key=drills.AT_KEY, at_api_url=at.url, at_sender_id=drills.SENDER_ID,
                                      at_max_recipients=CAP))
    app.config["TESTING"] = True
    drills.migrate(app)
    at.configure(delivery_url=None)
    rig = drills.Rig(app=app, at=at, database_url=url, redis_url=settings.redis_url, cap=CAP, logdir=tmp_path)
    try:
        result = drills.postgres_restart_drill(rig, private_postgres, 2_000, seed=SEED)
    finally:
        with app.app_context():
            db.engine.dispose()
    print(f"\n{result.line()}")
    assert result.ok, f"{result.line()}: {result.failures}; {json.dumps(result.as_dict(), default=str)}"
    assert result.postgres_restarts == 1
    assert result.verdict.pending_with_retry == 0 and result.verdict.sent == 2_000
    assert result.verdict.duplicates <= CAP * 2  # one request per worker can have been cut
