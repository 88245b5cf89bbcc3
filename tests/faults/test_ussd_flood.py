"""Fault drill: a flood of USSD sessions through the real ``POST /ussd``, served over HTTP on 127.0.0.1.

AT plays every session with the cumulative ``text`` (each answer so far
joined by ``*``), retries a request it got no answer to (sometimes while the
first is still being answered), and sometimes hands a session id to another
phone. Here 12 threads play 600+ sessions against the gateway: clients asking
for a call back, confirming a medicine pick-up, moving their reminder time,
browsing; unknown numbers asking to join; garbage answers; intruders posting
on someone else's session id; and callbacks that are not callbacks at all.
Each client (and each unknown number) belongs to one thread, so her sessions
follow one another as a person's do, while the threads race each other.

Afterwards: no 500, nor any status but 200 (400 for a callback that is not
one); every reply ``CON ``/``END `` with a text, within its network's screen
limit; a retry answered with the very same screen; an intruder always told
"not available" and nothing done for them or on the owner's behalf; every
effect carried out once per session and step (the audit ledger), a call-back
or enrolment request open once per person, a pick-up recorded once per client.
"""
from __future__ import annotations

import datetime as dt
import io
import random
import secrets
import threading
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import redis
import requests
from sqlalchemy import func, select

from devtools.at_server import serve_in_thread
from gateway.core import clock
from gateway import create_app, i18n
from gateway.clients import importer
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Client, Task, UssdSession
from gateway.ussd.sessions import KEY_PREFIX

NOW = dt.datetime(2025, 11, 25, 8, 0)  # UTC; a Tuesday morning in every zone
TODAY = NOW.date()
THREADS = 12
SESSIONS_PER_THREAD = 52  # 624 sessions
CLIENTS_PER_THREAD = 14  # 10 who act, 2 who only type garbage, 2 who only intrude
UNKNOWN_PER_THREAD = 6  # 4 who may ask to join, 2 who only intrude
LANGUAGES = ("en", "sw", "pt")  # the languages offered to clients (complete)
NETWORKS = {"63902": 160, "63903": 184, "99999": 160, "": 160}
LIKELY = ["", "0", "1", "2", "3", "4", "5", "9", "98", "99", "00", "1357", "01102025", "31022025", "0821234567",
          " 1 ", "😀", "1*2", "#", "*", "**", "9" * 250, "é", "\u200b", "<script>", "'; drop table clients;--"]
SCRIPTS = {  # what a client of each script answers, screen by screen
    "callback": ["5", "1"],
    "pickup": ["2", "3", "2", "1"],
    "time": ["4", "2", None],  # None: a slot, 1-3
    "browse": ["1"],
}
TIME_SLOTS = {"1": 8, "2": 12, "3": 17}  # morning, midday, evening (gateway.ussd.effects.SLOT_HOURS)
DEADLINE = 90  # seconds: the flood stops starting sessions after this, whatever is left


@dataclass
class Person:
    phone: str
    language: str
    role: str  # actor | garbage | intruder (clients), joiner | intruder (unknown numbers)
    known: bool


@dataclass
class Played:
    """One session as played: who, what, every (status, body) answer, and how it ended."""

    person: Person
    script: str
    session_id: str
    network: str
    path: str = ""
    replies: list[tuple[str, int, str]] = field(default_factory=list)  # (path, status, body)
    final: str | None = None  # the last reply's body
    slot: str | None = None
    dropped: bool = False  # its Redis record was lost once (deleted before a retry): replayed from the path
    notified: bool = False  # AT's end-of-session notification was posted


@dataclass
class Problems:
    items: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, text: str) -> None:
        with self.lock:
            if len(self.items) < 50:
                self.items.append(text)


def _phone(kind: int, thread: int, i: int) -> str:
    return f"+278{kind}{thread:02d}{i:05d}"


def seed(people_by_thread: dict[int, list[Person]]) -> None:
    """Every client, by the CSV import (bulk, one transaction): ART clients in every offered language."""
    rows = ["consent,phone,language,art_last_dispensed,art_days_supply"]
    for people in people_by_thread.values():
        rows += [f"yes,{p.phone},{p.language},{(TODAY - dt.timedelta(days=20)).isoformat()},30"
                 for p in people if p.known]
    report = importer.import_csv(io.BytesIO("\n".join(rows).encode()), default_country="ZA", actor="test",
                                 batch_size=10_000)
    assert report.imported == len(rows) - 1, report.to_json()


@pytest.fixture
def served(app, settings):
    """The gateway on 127.0.0.1 (a second app on the same database and Redis), the clock frozen for both."""
    gw = create_app(settings)
    url, stop = serve_in_thread(gw)
    with clock.frozen(NOW):
        yield url, redis.Redis.from_url(settings.redis_url)
    stop()


def test_a_flood_of_ussd_sessions_with_retries_reused_ids_and_garbage(served):
    base, store = served
    rng = random.Random(20251125)
    roles = ["actor"] * 10 + ["garbage"] * 2 + ["intruder"] * 2
    people = {t: [Person(_phone(2, t, i), LANGUAGES[i % len(LANGUAGES)], roles[i], True) for i in range(CLIENTS_PER_THREAD)]
              + [Person(_phone(3, t, i), "en", "joiner" if i < 4 else "intruder", False)
                 for i in range(UNKNOWN_PER_THREAD)] for t in range(THREADS)}
    seed(people)
    url = f"{base}/ussd"
    http = requests.Session()
    http.mount("http://", requests.adapters.HTTPAdapter(pool_connections=THREADS * 2, pool_maxsize=THREADS * 2))
    problems = Problems()
    statuses: Counter = Counter()
    moves: Counter = Counter()  # AT's retries, racing copies, records lost, notifications
    status_lock = threading.Lock()
    played: list[Played] = []
    played_lock = threading.Lock()
    duplicates = ThreadPoolExecutor(max_workers=4, thread_name_prefix="at-retry")
    started = time.monotonic()

    def post(form: dict, expect: int = 200) -> tuple[int, str]:
        for attempt in range(3):
            try:
                response = http.post(url, data=form, timeout=30)
                break
            except requests.ConnectionError:  # the dev server's backlog: AT would retry too
                time.sleep(0.05 * (attempt + 1))
        else:
            problems.add(f"no answer to {form}")
            return 0, ""
        body = response.text
        with status_lock:
            statuses[response.status_code] += 1
        if response.status_code != expect:
            problems.add(f"{response.status_code} (not {expect}) for {form!r:.200}: {body[:200]!r}")
        elif expect == 200:
            limit = NETWORKS[form.get("networkCode", "")]
            if not (body.startswith(("CON ", "END ")) and len(body) > 4 and len(body) <= limit):
                problems.add(f"a malformed screen ({len(body)} chars, limit {limit}) for {form!r:.200}: {body!r:.300}")
            if not response.headers.get("Content-Type", "").startswith("text/plain"):
                problems.add(f"not text/plain: {response.headers.get('Content-Type')}")
        return response.status_code, body

    def request(session: Played, path: str) -> str:
        """One request of the session, as AT sends it: sometimes twice in a row, sometimes twice at once."""
        form = {"sessionId": session.session_id, "serviceCode": "*384*123#", "phoneNumber": session.person.phone,
                "networkCode": session.network, "text": path}
        roll = local.rng.random()
        if roll < 0.08:  # a retry racing the first request: both wait for one answer
            with status_lock:
                moves["racing copies"] += 1
            twin = duplicates.submit(post, dict(form))
            status, body = post(form)
            twin_status, twin_body = twin.result(timeout=60)
            if (twin_status, twin_body) != (status, body):
                problems.add(f"two copies of one request answered differently: {body!r:.120} / {twin_body!r:.120}")
        else:
            status, body = post(form)
        if roll > 0.8:  # AT's retry after the answer was lost
            if roll > 0.95 and session.script != "garbage":  # and Redis lost the record meanwhile: a replay
                store.delete(KEY_PREFIX + session.session_id)  # (garbage's typed "*" would replay differently)
                session.dropped = True
                with status_lock:
                    moves["records lost"] += 1
            with status_lock:
                moves["retries"] += 1
            again = post(form)
            if again != (status, body):
                problems.add(f"a retry answered differently: {body!r:.120} then {again[1]!r:.120}")
        session.path = path
        session.replies.append((path, status, body))
        session.final = body
        return body

    local = threading.local()

    def play(session: Played, answers: list[str]) -> None:
        screen = request(session, "")
        given: list[str] = []
        for answer in answers:
            if not screen.startswith("CON "):
                break
            given.append(answer)
            screen = request(session, "*".join(given))

    def notify(session: Played) -> None:
        """AT's end-of-session notification (sometimes twice): kept, answers and last screen not."""
        form = {"sessionId": session.session_id, "phoneNumber": session.person.phone, "serviceCode": "*384*123#",
                "networkCode": session.network, "status": local.rng.choice(["Success", "Incomplete", "Failed"]),
                "durationInMillis": str(local.rng.randint(1000, 180_000)), "hopsCount": str(len(session.replies)),
                "date": "2025-11-25 08:01:00", "input": session.path, "lastAppResponse": (session.final or "")[:80],
                "cost": "KES 0.00", "errorMessage": ""}
        for _ in range(local.rng.choice([1, 1, 2])):
            try:
                response = http.post(f"{base}/ussd/events", data=form, timeout=30)
            except requests.ConnectionError:
                continue
            with status_lock:
                statuses[response.status_code] += 1
            if response.status_code != 200:
                problems.add(f"{response.status_code} for an end-of-session notification: {response.text[:120]!r}")
        session.notified = True
        with status_lock:
            moves["end notifications"] += 1

    def intrude(thread: int, person: Person, victims: list[Played]) -> None:
        # A session whose record Redis still has: one whose record was lost is, by design, anyone's first request.
        victims = [v for v in victims if not v.dropped] or victims[:0]
        if not victims:
            return
        victim = local.rng.choice(victims)
        session = Played(person, "intrude", victim.session_id, victim.network)
        for path in ("", victim.path, "5*1", "2*3*2*1"):
            status, body = post({"sessionId": victim.session_id, "phoneNumber": person.phone,
                                 "networkCode": victim.network, "text": path})
            session.replies.append((path, status, body))
            if status == 200 and body != "END " + unavailable(person):
                problems.add(f"an intruder on {victim.session_id} got {body!r:.120}, not 'not available'")
        with played_lock:
            played.append(session)

    def not_a_callback(thread: int) -> None:
        rng = local.rng
        phone = _phone(2, thread, 0)
        bad = rng.choice([
            ({"phoneNumber": phone, "text": ""}, "data"),
            ({"sessionId": "ATUid_x", "text": "1"}, "data"),
            ({"sessionId": "ATUid_" + "x" * 90, "phoneNumber": phone}, "data"),
            ({"sessionId": "ATUid_x", "phoneNumber": "not a phone", "text": ""}, "data"),
            ({"sessionId": "ATUid_x", "phoneNumber": phone, "text": "1*" * 2001}, "data"),
            ({"sessionId": "ATUid_x", "phoneNumber": phone, "text": ""}, "json"),
        ])
        form, how = bad
        try:
            response = http.post(url, **{how: form}, timeout=30)
        except requests.ConnectionError:
            return
        with status_lock:
            statuses[response.status_code] += 1
        if response.status_code != 400:
            problems.add(f"{response.status_code} (not 400) for a callback that is not one: {form!r:.120}")

    def worker(thread: int) -> None:
        local.rng = random.Random(rng.getrandbits(64) + thread)
        mine = people[thread]
        actors = [p for p in mine if p.role == "actor"]
        garbage = [p for p in mine if p.role == "garbage"]
        joiners = [p for p in mine if p.role == "joiner"]
        intruders = [p for p in mine if p.role == "intruder"]
        finished: list[Played] = []
        for _ in range(SESSIONS_PER_THREAD):
            if time.monotonic() - started > DEADLINE:
                problems.add("the flood ran out of time")
                break
            roll = local.rng.random()
            if roll < 0.05:
                not_a_callback(thread)
                continue
            if roll < 0.13 and finished:
                intrude(thread, local.rng.choice(intruders), finished)
                continue
            network = local.rng.choice(list(NETWORKS))
            session_id = "ATUid_" + secrets.token_hex(12)
            if roll < 0.28:
                person = local.rng.choice(joiners)
                session = Played(person, "join", session_id, network)
                play(session, local.rng.choice([["1", "1"], ["1", "2"], ["2"], ["1"]]))
            elif roll < 0.43:
                person = local.rng.choice(garbage)
                session = Played(person, "garbage", session_id, network)
                play(session, [local.rng.choice(LIKELY) if local.rng.random() < 0.7 else
                               "".join(local.rng.choice("0123456789*#abc é") for _ in range(local.rng.randint(0, 12)))
                               for _ in range(local.rng.randint(1, 7))])
            else:
                person = local.rng.choice(actors)
                script = local.rng.choice(list(SCRIPTS))
                session = Played(person, script, session_id, network)
                answers = list(SCRIPTS[script])
                if script == "time":
                    session.slot = answers[2] = local.rng.choice(sorted(TIME_SLOTS))
                play(session, answers)
            if local.rng.random() < 0.4:
                notify(session)
            finished.append(session)
            with played_lock:
                played.append(session)

    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="at") as pool:
        for future in [pool.submit(worker, t) for t in range(THREADS)]:
            future.result()
    duplicates.shutdown()
    seconds = time.monotonic() - started
    requests_sent = sum(statuses.values())
    kinds = Counter(s.script for s in played)
    print(f"\n{len(played)} USSD sessions, {requests_sent} requests in {seconds:.1f} s "
          f"({requests_sent / seconds:.0f}/s): {dict(statuses)}; {dict(kinds)}; {dict(moves)}")

    assert statuses[500] == 0 and set(statuses) <= {200, 400}, dict(statuses)
    assert not problems.items, problems.items[:10]
    verify(played, people)


def unavailable(person: Person) -> str:
    return i18n.render("ussd.unavailable", person.language)


def completed(session: Played, steps: int) -> bool:
    """The session reached its script's last screen, and that screen says it was done."""
    if session.path.count("*") + 1 != steps or session.path == "":
        return False
    failed = {"END " + i18n.render(key, session.person.language) for key in ("ussd.unavailable", "ussd.failed")}
    return session.final is not None and session.final.startswith("END ") and session.final not in failed


def verify(played: list[Played], people: dict[int, list[Person]]) -> None:
    db.session.rollback()  # a fresh snapshot: the served app committed everything
    everyone = [p for mine in people.values() for p in mine]
    client_ids = dict(db.session.execute(select(Client.phone, Client.id)).all())
    by_id = {client_ids[p.phone]: p for p in everyone if p.known}
    actors = {i for i, p in by_id.items() if p.role == "actor"}  # garbage may act too: checked by the ledger only

    # Every effect once per session and step: the ledger AT's retries and replays are checked against.
    ledger = Counter()
    effects = defaultdict(set)  # action -> {(entity_id or actor, session)}
    for actor, action, entity_id, changes in db.session.execute(
            select(AuditEntry.actor, AuditEntry.action, AuditEntry.entity_id, AuditEntry.changes)
            .where(AuditEntry.action.like("ussd.%"))):
        ledger[(action, changes["session"], changes["step"])] += 1
        if entity_id in actors and actor.startswith("ussd:client:"):
            effects[action].add((entity_id, changes["session"]))
    assert max(ledger.values(), default=1) == 1, [k for k, n in ledger.items() if n > 1][:5]

    def sessions(script: str, steps: int) -> list[Played]:
        return [s for s in played if s.script == script and completed(s, steps)]

    # Call-backs: one ledger entry per completed session, one open task per client who asked.
    callbacks = sessions("callback", 2)
    assert {(client_ids[s.person.phone], s.session_id) for s in callbacks} == effects["ussd.request_callback"]
    tasks = Counter(db.session.scalars(select(Task.client_id).where(
        Task.kind == "callback", Task.status == "open", Task.client_id.in_(actors))))
    assert max(tasks.values(), default=1) == 1, "a call-back request opened twice"
    assert set(tasks) == {client_ids[s.person.phone] for s in callbacks}

    # Pick-ups: each client's medicine recorded once, however often she confirmed it.
    pickups = sessions("pickup", 4)
    assert {(client_ids[s.person.phone], s.session_id) for s in pickups} == effects["ussd.record_pickup"]
    dispensed = Counter(db.session.scalars(select(AuditEntry.entity_id).where(
        AuditEntry.action == "art.dispensed", AuditEntry.entity_id.in_(actors))))
    assert set(dispensed) == {client_ids[s.person.phone] for s in pickups}
    assert max(dispensed.values(), default=1) == 1, "a pick-up recorded twice"
    for client in db.session.scalars(select(Client).where(Client.id.in_(list(dispensed)))):
        assert (client.art_last_dispensed, client.art_days_supply) == (TODAY, 90), client.phone

    # Reminder times: each client's last completed choice (her sessions follow one another).
    last_slot = {}
    for s in sessions("time", 3):
        last_slot[client_ids[s.person.phone]] = TIME_SLOTS[s.slot]
    for client_id, hour in db.session.execute(select(Client.id, Client.reminder_hour).where(Client.id.in_(actors))):
        assert hour == last_slot.get(client_id, 9), by_id[client_id].phone

    # Enrolment requests: one open request per unknown number that said yes twice.
    joined = {s.person.phone for s in played if s.script == "join" and s.path == "1*1" and completed(s, 2)}
    assert len(joined) > 0
    requests_open = Counter(db.session.scalars(select(Task.phone).where(Task.kind == "enrolment_request")))
    assert max(requests_open.values(), default=1) == 1, "an enrolment request opened twice"
    assert set(requests_open) == joined

    # Intruders: told "not available" (checked as played), and nothing done for or by them.
    intruders = {p.phone for p in everyone if p.role == "intruder"}
    intruder_ids = {client_ids[p] for p in intruders if p in client_ids}
    assert not set(db.session.scalars(select(Task.phone).where(Task.phone.in_(intruders))))
    touched = db.session.scalars(select(AuditEntry.action).where(
        AuditEntry.entity == "client", AuditEntry.entity_id.in_(intruder_ids), AuditEntry.action != "client.enrolled"))
    assert list(touched) == []
    assert not any(actor.startswith(tuple(f"ussd:{p}" for p in intruders)) for actor in
                   db.session.scalars(select(AuditEntry.actor).where(AuditEntry.actor.like("ussd:+%"))))
    assert any(s.script == "intrude" for s in played) and callbacks and pickups and joined

    # End-of-session notifications: one row a session, however often AT sent it.
    notified = {s.session_id for s in played if s.notified}
    assert db.session.scalar(select(func.count()).select_from(UssdSession)) == len(notified)
    assert any(s.dropped for s in played)
