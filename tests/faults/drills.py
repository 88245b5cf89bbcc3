"""What the fault drills share (here and in bench/faults.py): seeding, workers, and the verdict.

The verdict (``outcome``) is the one the drills exist for: afterwards every
due reminder was sent exactly once, or is still pending with a retry time;
copies beyond the first at the fake AT are counted as duplicates (only the
documented crash window may make one, docs/reminders.md).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import subprocess
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select

from gateway.extensions import db
from gateway.models import Appointment, Client, Message, Reminder, reminder_appointments

ROOT = Path(__file__).resolve().parents[2]
SEED_CHUNK = 2000


def seed_due(n: int, now: dt.datetime, *, first: int = 0, prefix: str = "+2783") -> list[str]:
    """n clients, each with one appointment due today and one reminder due at ``now``; their phones.

    Bulk Core inserts (any database), fast enough for 100,000 in a benchmark.
    Texts vary with language and template as in real life, so requests carry
    one text to many phones and several texts are in flight at once.
    """
    phones = [f"{prefix}{first + i:07d}" for i in range(n)]
    today = now.date()
    for start in range(0, n, SEED_CHUNK):
        chunk = phones[start:start + SEED_CHUNK]
        client_ids = db.session.execute(insert(Client).returning(Client.id, sort_by_parameter_order=True), [
            {"phone": phone, "country": "ZA", "language": ("en", "sw", "pt")[(start + i) % 3], "reminder_hour": 9,
             "explicit_wording": False, "opted_out": False, "pin_failures": 0, "consecutive_failures": 0,
             "planned_through": today + dt.timedelta(days=400)} for i, phone in enumerate(chunk)]).scalars().all()
        appointment_ids = db.session.execute(
            insert(Appointment).returning(Appointment.id, sort_by_parameter_order=True),
            [{"client_id": cid, "kind": "immunisation", "name": "OPV1", "due_date": today, "status": "due",
              "version": 1} for cid in client_ids]).scalars().all()
        reminder_ids = db.session.execute(insert(Reminder).returning(Reminder.id, sort_by_parameter_order=True), [
            {"client_id": cid, "send_date": today, "send_at": now - dt.timedelta(minutes=1),
             "stale_at": now + dt.timedelta(days=1), "template": ("today", "missed")[(start + i) % 2],
             "due_date": today, "status": "scheduled", "version": 1}
            for i, cid in enumerate(client_ids)]).scalars().all()
        db.session.execute(insert(reminder_appointments), [
            {"reminder_id": rid, "appointment_id": aid} for rid, aid in zip(reminder_ids, appointment_ids)])
        db.session.commit()
    return phones


def worker_env(database_url: str, redis_url: str, at_url: str, cap: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AT_", "SMS_", "CALLBACK_"))}
    env.update(DATABASE_URL=database_url, REDIS_URL=redis_url, AT_USERNAME="sandbox", AT_API_KEY="at-key-for-tests",
               AT_API_URL=at_url, AT_MAX_RECIPIENTS=str(cap), SMS_BACKEND="africastalking", SECRET_KEY="test",
               PYTHONUNBUFFERED="1", **extra)
    return env


def start_worker(env: dict[str, str], log=subprocess.DEVNULL) -> subprocess.Popen:
    """A real ``flask --app wsgi worker``, in a session of its own so it can be killed with its children."""
    return subprocess.Popen([sys.executable, "-m", "flask", "--app", "wsgi", "worker"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT if log is not subprocess.DEVNULL else log,
                            start_new_session=True)


def kill_worker(worker: subprocess.Popen) -> None:
    """SIGKILL the worker and anything it forked: its process group (by the worker's own pid)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(worker.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.wait(timeout=10)


@dataclass
class Outcome:
    """How the drill ended, reminder by reminder."""

    reminders: int = 0
    sent_once: int = 0
    sent_more_than_once: int = 0
    duplicates: int = 0  # copies beyond the first, at the fake AT
    pending_with_retry: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        return (f"{self.reminders} due reminders: {self.sent_once} sent once, {self.sent_more_than_once} sent more "
                f"than once ({self.duplicates} duplicates at AT), {self.pending_with_retry} pending with a retry "
                f"time; {len(self.problems)} problems" + (f": {self.problems[:5]}" if self.problems else ""))


def outcome(phones: list[str], accepted: list[dict]) -> Outcome:
    """Check every seeded reminder against the database and what the fake AT accepted (``ATServer.sent``).

    Sent: reminder and message ``sent`` (or ``delivered``), AT has the (phone,
    text) at least once. Pending: reminder ``queued``, its message ``queued``
    with a ``next_attempt_at`` (AT may have it once already: the crash window).
    Anything else, a message at AT for nobody, or a reminder with two live
    messages, is a problem.
    """
    db.session.rollback()  # a fresh snapshot: workers and callbacks committed elsewhere
    at_count = Counter((r["number"], r["message"]) for r in accepted)
    wanted = set(phones)
    result = Outcome(reminders=len(phones))
    rows = db.session.execute(
        select(Client.phone, Reminder.id, Reminder.status, Message.id, Message.status, Message.text,
               Message.next_attempt_at)
        .join(Reminder, Reminder.client_id == Client.id)
        .outerjoin(Message, (Message.reminder_id == Reminder.id) & (Message.status != "cancelled"))
        .where(Client.phone.in_(wanted) if len(wanted) < 30_000 else Client.phone.like("+%"))).all()
    by_phone: dict[str, list] = {}
    for row in rows:
        if row[0] in wanted:
            by_phone.setdefault(row[0], []).append(row)
    for phone in phones:
        mine = by_phone.get(phone, [])
        if len(mine) != 1:
            result.problems.append(f"{phone}: {len(mine)} live messages")
            continue
        _, _, reminder_status, message_id, message_status, text_, next_at = mine[0]
        copies = at_count.get((phone, text_), 0) if text_ is not None else 0
        if reminder_status in ("sent", "delivered") and message_status in ("sent", "delivered") and copies >= 1:
            if copies == 1:
                result.sent_once += 1
            else:
                result.sent_more_than_once += 1
                result.duplicates += copies - 1
        elif reminder_status == "queued" and message_status == "queued" and next_at is not None and copies <= 1:
            result.pending_with_retry += 1
        else:
            result.problems.append(f"{phone}: reminder {reminder_status}, message {message_status}, at AT {copies}x")
    strangers = {number for number, _ in at_count} - wanted
    if strangers:
        result.problems.append(f"{len(strangers)} numbers at AT that no reminder was for")
    return result
