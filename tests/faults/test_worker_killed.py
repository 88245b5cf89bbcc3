"""Fault drill: a real worker is killed (-9) mid-batch and Redis is emptied; dispatch runs again.

Afterwards every due reminder went out, and only the recipients of the one
request in flight when the worker died can have received it twice (the
documented crash window, docs/reminders.md).
"""
import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import redis
from sqlalchemy import select

from gateway.core import clock
from jobs import SEND_QUEUE
from gateway.adapters.database import db
from gateway.core.models import Message, Reminder
from gateway.messages import dispatch
from tests.messages.test_dispatch import NOW, enrol_due_today

ROOT = Path(__file__).resolve().parents[2]
CAP = 10  # recipients per request: the most a crash can double
CLIENTS = 200


def start_worker(settings, at_url):
    env = {**os.environ, "DATABASE_URL": settings.database_url, "REDIS_URL": settings.redis_url,
           "AT_USERNAME": "sandbox", "AT_API_KEY": "at-key-for-tests", "AT_API_URL": at_url,
           "AT_MAX_RECIPIENTS": str(CAP), "SECRET_KEY": "test"}
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def kill_worker(worker) -> None:
    """SIGKILL the worker and its work horse (RQ puts the horse in a process group of its own)."""
    import psutil

    try:
        horses = psutil.Process(worker.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        horses = []
    for proc in [*horses]:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            pass
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def test_worker_killed_mid_batch_and_redis_emptied(gateway, at, settings):
    enrol_due_today(CLIENTS)
    # Each request waits 0.3 s at AT: the worker is killed while one is in flight, AT having accepted it.
    at.configure(latency=0.3)
    with gateway.app_context(), clock.frozen(NOW):
        gateway.config["SETTINGS"] = gateway.config["SETTINGS"].replace(at_max_recipients=CAP)
        counts = dispatch.send_due(NOW, enqueue=SEND_QUEUE)  # real RQ jobs in Redis
    requests = CLIENTS // CAP
    assert counts.enqueued_messages == CLIENTS
    assert counts.enqueued_jobs == -(-requests // dispatch.REQUESTS_PER_JOB)  # the requests, a few to a job

    worker = start_worker(settings, at.url)
    try:
        deadline = time.monotonic() + 60
        in_flight = requests // 3  # a third of the way through the batch
        while at.requests < in_flight and time.monotonic() < deadline:
            assert worker.poll() is None, worker.stderr.read().decode()[-2000:]
            time.sleep(0.005)
        assert at.requests >= in_flight, "the worker sent too little to test anything"
    finally:
        kill_worker(worker)
    time.sleep(0.5)  # AT finishes the request the dead worker made
    sent_before = len(at.sent)
    assert sent_before < CLIENTS, "the worker finished before it could be killed"
    redis.Redis.from_url(settings.redis_url).flushdb()  # and Redis loses every queued job

    # Dispatch again, after the crash window: stuck 'sending' messages are recovered, lost jobs re-enqueued.
    later = clock.utcnow() + dispatch.SENDING_TIMEOUT + dt.timedelta(seconds=1)
    jobs = []
    with gateway.app_context(), clock.frozen(later):
        counts = dispatch.send_due(later, enqueue=jobs.append)
        results = [dispatch.send_messages(ids) for ids in jobs]
    db.session.rollback()

    phones = {m["number"] for m in at.sent}
    assert len(phones) == CLIENTS  # nothing lost
    assert set(db.session.scalars(select(Message.status))) <= {"sent", "delivered"}
    assert set(db.session.scalars(select(Reminder.status))) <= {"sent", "delivered"}
    duplicates = sum(n - 1 for n in at.duplicates().values())
    assert duplicates <= CAP, f"{duplicates} duplicates: more than the one request in flight"
    print(f"\nkilled after {sent_before} accepted; recovered {counts.recovered}, "
          f"re-sent in {len(jobs)} jobs; duplicates at AT: {duplicates} (window allows {CAP})")
