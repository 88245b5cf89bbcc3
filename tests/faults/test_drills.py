"""Fault drills, CI sizes: workers killed at random moments, Redis emptied, Africa's Talking down.

Each runs real ``flask --app wsgi worker`` processes on the suite's database
and Redis (SQLite + embedded Redis, or PostgreSQL + Redis) against the fake
AT, then checks the verdict (tests/faults/drills.py): every due reminder sent
exactly once or still pending with a retry time, nothing lost, and
duplicates only where the documented crash window allows them
(docs/reminders.md). The long versions: ``bench/faults.py``.

``DRILL_SEED`` replays a run (the seed is in every report line and failure).
"""
import json
import os
import random

from tests.faults import drills

SEED = int(os.environ.get("DRILL_SEED") or random.SystemRandom().randrange(10 ** 6))


def check(result: drills.DrillResult) -> None:
    print(f"\n{result.line()}" + "".join(f"\n  note: {note}" for note in result.notes))
    assert result.ok, f"{result.line()}: {result.failures}; {json.dumps(result.as_dict(), default=str)}"


def test_workers_killed_at_random_moments(rig):
    """5 SIGKILLs over a dispatch of 3,000 reminders; duplicates only from requests in flight at a kill."""
    result = drills.kill_drill(rig, 3_000, 5, seed=SEED)
    check(result)
    assert result.kills >= 1, "no worker was alive to kill"
    assert result.verdict.pending_with_retry == 0 and result.verdict.sent == 3_000
    assert result.verdict.duplicates <= rig.cap * result.kills


def test_redis_emptied_mid_run(rig):
    """FLUSHDB twice while workers send 2,000 reminders: nothing lost, nothing doubled, nothing left sending."""
    result = drills.flush_drill(rig, 2_000, 2, seed=SEED)
    check(result)
    assert result.verdict.duplicates == 0 and result.stranded == 0
    assert result.verdict.sent_once == 2_000


def test_at_answers_500_then_times_out_then_drops_then_recovers(rig):
    """No crash, so no duplicate at all; what was hit waits with a retry time, then goes out once."""
    result = drills.outage_drill(rig, 1_500, seed=SEED)
    check(result)
    phases = result.between["phase_requests"]
    assert phases["http_500"] >= 1 and phases["timeout"] >= 1 and phases["dropped"] >= 1, phases
    assert result.between["pending_with_retry"] >= 1, "no message was left waiting for a retry"
    assert result.verdict.duplicates == 0 and result.verdict.sent_once == 1_500
