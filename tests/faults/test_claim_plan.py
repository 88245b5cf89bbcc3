"""Regression: the claims take one batch, by primary key, whatever plan PostgreSQL picks.

The pass's claim (found by the fault drills):

``UPDATE reminders ... WHERE id IN (SELECT ... LIMIT n FOR UPDATE SKIP LOCKED)``
became, with statistics saying hardly any reminder is ``scheduled`` (the
last ANALYZE saw them all sent), a nested-loop semi join that re-ran the
locking subquery for every row, each run skipping the rows the statement had
already updated: the first "batch" claimed every due reminder, in quadratic
time (over four minutes for 50,000 in bench/faults.py).

A send job's claim (found by bench/dispatch.py): ``UPDATE messages ... WHERE
id IN (100 ids) AND status = 'queued'`` was, with statistics that knew of no
queued message, a BitmapAnd of the primary key and the status index, which
read the index entry of every queued message for each job: dispatch fell to a
fifth of its speed.
"""
import os

import pytest
from sqlalchemy import func, select, text, update

from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import Message, Reminder
from gateway.messages import dispatch
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


def _plan_nodes(node):
    yield node
    for child in node.get("Plans", ()):
        yield from _plan_nodes(child)


def test_a_send_claim_reads_only_its_own_messages_even_with_stale_statistics(app):
    now = clock.utcnow()
    drills.seed_due(3_000, now)
    dispatch.send_due(now, enqueue=lambda ids: None)
    db.session.execute(update(Message).values(status="sent"))
    db.session.execute(text("ANALYZE messages"))  # the statistics now say: no message is queued
    db.session.execute(update(Message).values(status="queued"))
    db.session.commit()
    ids = db.session.scalars(select(Message.id).order_by(Message.id).limit(100)).all()
    compiled = dispatch._send_claim(ids, now).compile(dialect=db.engine.dialect,
                                                       compile_kwargs={"render_postcompile": True})
    plan = db.session.connection().exec_driver_sql(
        "EXPLAIN (ANALYZE, FORMAT JSON) " + compiled.string, compiled.params).scalar()
    claimed = db.session.scalar(select(func.count()).where(Message.status == "sending"))
    db.session.rollback()
    read = {node.get("Index Name"): node["Actual Rows"] for node in _plan_nodes(plan[0]["Plan"])
            if "Index Name" in node}
    assert claimed == 100
    assert "ix_messages_status_next" not in read, read
    assert max(read.values()) <= 2 * len(ids), read
