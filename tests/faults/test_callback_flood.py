"""Fault drill: a flood of 10,000 delivery reports through the real callback endpoint, over HTTP.

AT posts a report per status change, retries when it gets no 200, and sends
some twice; reports race each other and arrive out of order. Here 2,500 sent
reminders get their interim and final reports, duplicates of both, late
interim reports after the final one, and reports for ids the gateway never
sent, from 8 concurrent clients against the gateway served on 127.0.0.1.

Afterwards: no 500 (nor anything but 200 for a known id and 404 for an
unknown one); every message and reminder is in the state its final report
says; a duplicate changed nothing (a failure is counted once); an unknown id
created nothing.
"""
import datetime as dt
import random
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from sqlalchemy import func, select, update

from gateway.core import clock
from gateway.adapters.database import db
from gateway.core.models import Client, Message, Reminder, Task
from tests.faults.drills import seed_due

MESSAGES = 2_500
REPORTS = 10_000
FINALS = ["Success"] * 16 + ["Failed"] * 2 + ["Rejected", "Expired"]
REASONS = {"Failed": "DeliveryFailure", "Rejected": "UserInBlackList", "Expired": None, "Success": None}


def sent_messages(n):
    """n reminders whose messages AT accepted: sent, with AT's message ids."""
    now = clock.utcnow()
    phones = seed_due(n, now, prefix="+2784")
    reminders = db.session.execute(select(Reminder.id, Reminder.client_id, Client.phone)
                                   .join(Client, Client.id == Reminder.client_id).order_by(Reminder.id)).all()
    db.session.execute(Message.__table__.insert(), [
        {"client_id": client_id, "direction": "out", "phone": phone, "text": "Reminder for today.", "status": "sent",
         "backend": "africastalking", "provider_id": f"ATXid_{reminder_id:032x}", "status_code": 101,
         "reminder_id": reminder_id, "reminder_version": 1, "attempts": 1, "sent_at": now, "created_at": now,
         "updated_at": now} for reminder_id, client_id, phone in reminders])
    db.session.execute(update(Reminder).values(status="sent"))
    db.session.commit()
    assert len(phones) == n
    return [f"ATXid_{reminder_id:032x}" for reminder_id, _, _ in reminders]


def flood(ids, rng):
    """REPORTS reports: per message interim + final, then duplicates, late interim ones and unknown ids."""
    final = {mid: rng.choice(FINALS) for mid in ids}
    reports = []
    for mid in ids:
        reports.append({"id": mid, "status": "Submitted"})
        reports.append(_final(mid, final[mid]))
    while len(reports) < REPORTS * 6 // 10:  # AT's retries: the same final report again
        mid = rng.choice(ids)
        reports.append(_final(mid, final[mid]))
    while len(reports) < REPORTS * 8 // 10:  # late interim reports, after the final one
        reports.append({"id": rng.choice(ids), "status": rng.choice(["Sent", "Buffered", "Submitted"])})
    while len(reports) < REPORTS:  # ids the gateway never sent (another account, a typo, a replay)
        reports.append({"id": f"ATXid_unknown{rng.getrandbits(64):016x}", "status": rng.choice(FINALS)})
    rng.shuffle(reports)
    return final, reports


def _final(mid, status):
    report = {"id": mid, "status": status, "phoneNumber": "+27840000000", "networkCode": "63902", "retryCount": "0"}
    if REASONS[status]:
        report["failureReason"] = REASONS[status]
    return report


def test_ten_thousand_delivery_reports_with_duplicates_and_unknown_ids(gateway, at):
    rng = random.Random(20260302)
    ids = sent_messages(MESSAGES)
    final, reports = flood(ids, rng)
    assert len(reports) == REPORTS
    url = f"{gateway.url}/sms/delivery"
    session = requests.Session()
    session.mount("http://", requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=8))

    def post(report):
        for attempt in range(3):
            try:
                return report["id"], session.post(url, data=report, timeout=30).status_code
            except requests.ConnectionError:  # the dev server's backlog: AT would retry too
                time.sleep(0.05 * (attempt + 1))
        return report["id"], None

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(post, reports))
    seconds = time.monotonic() - started

    by_status = Counter(status for _, status in answers)
    assert set(by_status) <= {200, 404}, by_status
    known = set(ids)
    assert all((status == 200) == (mid in known) for mid, status in answers)

    db.session.rollback()
    rows = db.session.execute(select(Message.provider_id, Message.status, Message.failure_reason, Reminder.status,
                                     Client.consecutive_failures)
                              .join(Reminder, Reminder.id == Message.reminder_id)
                              .join(Client, Client.id == Message.client_id)).all()
    assert len(rows) == MESSAGES  # no message made by any report
    for provider_id, status, reason, reminder_status, failures in rows:
        want = final[provider_id]
        if want == "Success":
            assert (status, reminder_status, failures) == ("delivered", "delivered", 0), provider_id
        else:
            assert (status, reminder_status) == ("failed", "failed"), provider_id
            assert reason == (REASONS[want] or want)
            assert failures == 1, f"{provider_id}: a duplicate report counted the failure again"
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0  # one failure each: no follow-up yet
    print(f"\n{REPORTS} delivery reports in {seconds:.1f} s ({REPORTS / seconds:.0f}/s): {dict(by_status)}")
