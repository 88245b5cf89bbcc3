"""The worker process: its periodic table, and a real `flask worker` sending due reminders on its own."""
import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

from rq import Queue
from sqlalchemy import select

import jobs
from gateway import appointments
from gateway.core import clock
from gateway.clients import enrolment
from gateway.adapters.database import db
from gateway.core.models import Message, Reminder
from gateway.messages.dispatch import PassCounts
from gateway.adapters.redis_store import get_redis

ROOT = Path(__file__).resolve().parent.parent


def test_each_periodic_job_is_enqueued_once_per_period_across_workers(app):
    t = 1_000_000_020.0
    first = jobs.enqueue_periodic(t)
    assert sorted(first) == sorted(f"periodic-{name}-{int(t // every)}" for name, (every, _) in jobs.PERIODIC.items())
    assert jobs.enqueue_periodic(t + 1) == []  # another worker, same minute
    assert jobs.enqueue_periodic(t + 60) == [f"periodic-dispatch-{int((t + 60) // 60)}"]
    assert Queue("default", connection=get_redis()).count == len(jobs.PERIODIC) + 1


def test_passes_never_overlap(app):
    lock = get_redis().lock("lock:dispatch", timeout=60)
    assert lock.acquire(blocking=False)
    try:
        assert jobs.dispatch_pass() is None  # another worker is in a pass: this one does nothing
    finally:
        lock.release()
    assert jobs.dispatch_pass()["claimed"] == 0


def test_a_pass_renews_its_short_lock_after_each_batch(app, monkeypatch):
    """A worker killed mid-pass holds the next pass up for at most LOCK_SECONDS, yet a long pass keeps its lock."""
    redis = get_redis()
    ttls = []
    real = jobs._renewer

    def watching(lock):
        renew = real(lock)

        def renew_and_look(*a):
            redis.pexpire("lock:dispatch", 1000)  # as if the pass had run most of its lock's time
            renew(*a)
            ttls.append(redis.pttl("lock:dispatch"))
        return renew_and_look
    monkeypatch.setattr(jobs, "_renewer", watching)
    seen = []

    def two_batches(enqueue, progress):
        progress()
        progress()
        seen.append(redis.pttl("lock:dispatch"))
        return PassCounts()
    monkeypatch.setattr("gateway.messages.dispatch.send_due", two_batches)
    assert jobs.dispatch_pass() is not None
    assert len(ttls) == 2 and all(jobs.LOCK_SECONDS * 1000 - 2000 < ttl <= jobs.LOCK_SECONDS * 1000 for ttl in ttls)
    assert seen and seen[0] > 1000  # renewed, not left to run out
    assert redis.exists("lock:dispatch") == 0  # released at the end
    assert jobs.LOCK_SECONDS <= 60


def test_flask_worker_sends_due_reminders_by_itself(app, settings):
    data = enrolment.parse_enrolment({"phone": "0821234567", "infants": [{"date_of_birth": "2026-01-01"}]}, "ZA")
    client = enrolment.enrol(data, "test")
    appointments.refresh(client)
    now = clock.utcnow()
    reminder = Reminder(client_id=client.id, send_date=now.date(), send_at=now - dt.timedelta(minutes=1),
                        stale_at=now + dt.timedelta(hours=1), template="today", due_date=now.date(), status="scheduled",
                        version=1, appointments=[client.appointments[0]])
    db.session.add(reminder)
    db.session.commit()
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url, "SECRET_KEY": "t"}
    env.pop("AT_API_KEY", None)
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "worker", "--burst"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    db.session.rollback()
    message = db.session.scalar(select(Message))
    assert message is not None, result.stderr[-3000:]
    assert (message.status, message.backend) == ("outbox", "outbox")
    assert db.session.get(Reminder, reminder.id).status == "sent"
