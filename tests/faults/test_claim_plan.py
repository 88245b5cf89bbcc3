"""Regression: a claim takes one batch whatever plan PostgreSQL picks (found by the fault drills).

``UPDATE reminders ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)``
became, with statistics saying hardly any reminder is ``scheduled`` (the
last ANALYZE saw them all sent), a nested-loop semi join that re-ran the
locking subquery for every row, each run skipping the rows the statement had
already updated: the first "batch" claimed every due reminder, in quadratic
time (over four minutes for 50,000 in bench/faults.py).
"""
import os

import pytest
from sqlalchemy import text, update

from gateway import clock
from gateway.extensions import db
from gateway.models import Reminder
from gateway.reminders import dispatch
from tests.faults import drills

pytestmark = pytest.mark.skipif(not os.environ.get("DATABASE_URL", "").startswith("postgres"),
                                reason="a PostgreSQL planner question (SQLite runs the subquery once)")


def test_a_claim_takes_one_batch_even_with_stale_statistics(app, monkeypatch):
    now = clock.utcnow()
    drills.seed_due(2_000, now)
    db.session.execute(update(Reminder).values(status="sent"))
    db.session.execute(text("ANALYZE reminders"))  # the statistics now say: no reminder is scheduled
    db.session.commit()
    drills.clear_tables(app)
    drills.seed_due(2_000, now)  # 2,000 due, which the statistics do not know
    monkeypatch.setattr(dispatch, "CLAIM_BATCH", 100)
    claimed = dispatch._claim_due_reminders(now)
    db.session.rollback()
    assert len(claimed) == 100
