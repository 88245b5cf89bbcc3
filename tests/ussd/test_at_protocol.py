"""How ``POST /ussd`` and ``POST /ussd/events`` speak AT's protocol: retries, lost sessions, reuse, limits, failures."""
import contextlib
import datetime as dt
import threading

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import event, select

from gateway import create_app
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Client, Task, UssdSession
from gateway import ussd
from gateway.ussd import sessions
from tests.ussd.conftest import (
    CLIENT_PHONE, COORDINATOR_PHONE, NOW, OTHER_PHONE, TODAY, UNKNOWN_PHONE, AtSession, count, fresh,
)

ART = {"last_dispensed": "2025-11-01", "days_supply": 30}
PICKUP_DONE = "END Thank you. Your next pick-up is on Mon 23 Feb. We will remind you by SMS."
MAIN_EN = ("CON Clinic reminders\n1. My next visit\n2. I collected medicine\n3. My baby\n"
           "4. My settings\n5. Ask for a call back")
UNAVAILABLE = "END Sorry, this is not available now. Please try again later."
NEXT_VISIT = "END Your next visits:\nMon 1 Dec: pick up your medicine"


@pytest.fixture
def mother(make_client):
    return make_client(language="en", art=ART)


def _flush(app):
    redis.Redis.from_url(app.config["SETTINGS"].redis_url).flushdb()


def _pickups() -> int:
    return count(AuditEntry, AuditEntry.action == "art.dispensed")


# ---------------------------------------------------------------- AT's retries


def test_a_retried_request_gets_the_same_screen_and_acts_once(at, mother):
    session = at(CLIENT_PHONE)
    first = session.dial()
    assert session.repeat() == first
    session.send("2")
    menu = session.send("3")
    assert session.repeat() == menu
    session.send("2")
    assert session.send("1") == PICKUP_DONE
    for _ in range(3):
        assert session.repeat() == PICKUP_DONE
    assert _pickups() == 1 and count(AuditEntry, AuditEntry.action == "ussd.record_pickup") == 1


def test_a_retry_racing_the_first_request_waits_for_it_and_acts_once(app, client, mother):
    session = AtSession(client, CLIENT_PHONE)
    session.play("2", "3", "2")
    session.answers.append("1")
    barrier, bodies = threading.Barrier(2), []

    def post():
        with app.test_client() as http:
            barrier.wait()
            bodies.append(http.post("/ussd", data={"sessionId": session.session_id, "phoneNumber": CLIENT_PHONE,
                                                   "networkCode": "99999", "text": session.text})
                          .get_data(as_text=True))

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert bodies == [PICKUP_DONE, PICKUP_DONE]
    db.session.expire_all()
    assert _pickups() == 1


def test_a_request_still_locked_after_the_wait_is_told_to_try_again(app, at, mother, monkeypatch):
    session = at(CLIENT_PHONE)
    session.dial()
    monkeypatch.setattr(sessions, "LOCK_WAIT", 0.2)
    held = redis.Redis.from_url(app.config["SETTINGS"].redis_url).lock(sessions.LOCK_PREFIX + session.session_id,
                                                                       timeout=5)
    assert held.acquire()
    try:
        assert session.send("2") == UNAVAILABLE
    finally:
        held.release()
    assert session.repeat().startswith("CON How many months")  # nothing was kept from the one that gave up


# ---------------------------------------------------------------- a session whose record is lost


def test_redis_flushed_mid_session_the_path_is_replayed(app, at, mother):
    session = at(CLIENT_PHONE)
    session.play("2", "3", "2")
    _flush(app)
    assert session.send("1") == PICKUP_DONE
    assert _pickups() == 1
    assert fresh(mother).art_days_supply == 90


def test_redis_flushed_after_the_effect_a_retry_does_not_act_again(app, at, mother):
    session = at(CLIENT_PHONE)
    assert session.play("2", "3", "2", "1") == PICKUP_DONE
    _flush(app)
    assert session.repeat() == PICKUP_DONE
    _flush(app)
    assert session.repeat() == PICKUP_DONE
    assert _pickups() == 1 and count(AuditEntry, AuditEntry.action == "ussd.record_pickup") == 1


def test_a_replayed_call_back_or_enrolment_request_is_not_doubled(app, at, mother):
    session = at(CLIENT_PHONE)
    session.play("5", "1")
    _flush(app)
    session.repeat()
    unknown = at(UNKNOWN_PHONE)
    unknown.play("1", "1")
    _flush(app)
    unknown.repeat()
    assert count(Task, Task.kind == "callback") == 1 and count(Task, Task.kind == "enrolment_request") == 1


def test_an_unknown_numbers_replay_finds_her_ledger_after_her_request_was_closed(app, at):
    # Her open request no longer stands for the effect (a coordinator rejected it): only the ledger,
    # read by her actor (ussd:<phone>), tells the replay from a new request.
    unknown = at(UNKNOWN_PHONE)
    done = unknown.play("1", "1")
    task = db.session.scalar(select(Task).where(Task.kind == "enrolment_request"))
    task.status = "rejected"
    db.session.commit()
    _flush(app)
    assert unknown.repeat() == done
    assert count(Task, Task.kind == "enrolment_request") == 1
    # The same answers in a new session are a new request.
    at(UNKNOWN_PHONE).play("1", "1")
    assert count(Task, Task.kind == "enrolment_request", Task.status == "open") == 1


def test_a_replayed_pin_counts_like_one_typed_live(app, at, make_client):
    client = make_client(language="en", art=ART, pin="1357")
    session = at(CLIENT_PHONE)
    session.play("1", "0000")
    assert fresh(client).pin_failures == 1
    _flush(app)
    # Her record is gone: the path is replayed, and every PIN in it is checked and counted, the
    # replayed 0000 too. Once more than a PIN ever lost can be a guess: a lock, not a free try.
    assert session.send("1357") == "END Your next visits:\nMon 1 Dec: pick up your medicine"
    assert fresh(client).pin_failures == 0


@pytest.mark.parametrize("who", ["client", "coordinator"])
def test_pin_guesses_inside_fresh_sessions_lock_the_pin(app, at, make_client, make_coordinator, who):
    """Guesses sent as a dial string (a fresh session whose text already holds the PIN) count and lock."""
    import menus
    from gateway.ussd.pins import UserPins

    if who == "client":
        client = make_client(language="en", art=ART, pin="1357")
        phone, path = CLIENT_PHONE, "1*{}"
    else:  # the coordinator's whole menu is behind her PIN: it is the first answer
        coordinator = make_coordinator(pin="1357")
        phone, path = COORDINATOR_PHONE, "{}"
    # Each guess is the first request of a new session, its text already holding the answers (a dial string).
    replies = [at(phone).post(path.format(f"{guess:04d}")) for guess in range(menus.MAX_FAILURES + 2)]
    assert "Too many wrong PINs" in replies[menus.MAX_FAILURES - 1]
    assert all("Too many wrong PINs" in r for r in replies[menus.MAX_FAILURES:]), replies
    # Locked: the right PIN is refused too, however it arrives.
    assert "Too many wrong PINs" in at(phone).post(path.format("1357"))
    if who == "client":
        assert fresh(client).pin_failures >= menus.MAX_FAILURES and fresh(client).pin_locked_until is not None
    else:
        assert UserPins(coordinator).read()[1] is not None


def test_a_new_pin_typed_twice_survives_a_flush_between_the_two(app, at, mother):
    session = at(CLIENT_PHONE)
    session.play("4", "4", "1357")
    _flush(app)
    assert session.send("1357") == "END Your PIN is saved. Keep it secret."
    assert fresh(mother).ussd_pin_hash


def test_without_redis_sessions_run_on_their_paths_and_effects_stay_single(at, mother, monkeypatch):
    gone = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(sessions, "connection", lambda: gone)
    session = at(CLIENT_PHONE)
    assert session.play("2", "3", "2", "1") == PICKUP_DONE
    assert session.repeat() == PICKUP_DONE
    assert _pickups() == 1


def test_without_redis_a_coordinator_is_not_given_unlimited_pin_guesses(at, make_coordinator, monkeypatch):
    make_coordinator()
    gone = redis.Redis(host="127.0.0.1", port=1, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(sessions, "connection", lambda: gone)
    assert at(COORDINATOR_PHONE).dial() == UNAVAILABLE


def test_a_path_that_does_not_extend_the_last_one_is_rebuilt_from_the_start(at, mother):
    session = at(CLIENT_PHONE)
    session.play("4", "2")
    # A late retry of an earlier request: answered from its own path; the session stays where it was.
    assert session.post("4") == "CON My settings\n1. Language\n2. Reminder time\n3. Stop SMS\n4. Set a PIN\n0. Back"
    assert session.post("") == MAIN_EN
    assert session.send("1") == "END Done. Reminder time: Morning."
    assert fresh(mother).reminder_hour == 8


def test_a_first_request_that_already_carries_answers_is_replayed(at, mother):
    # Some networks let a caller dial *384*123*2*3# : the first request's text is "2*3".
    assert at(CLIENT_PHONE).post("2*3*2") == "CON You got 3 months of medicine today. Is that right?\n1. Yes\n2. No"


def test_an_absurdly_long_path_starts_the_menu_afresh(at, mother):
    session = at(CLIENT_PHONE)
    assert session.post("*".join(["9"] * 60)).startswith("CON Clinic reminders")


# ---------------------------------------------------------------- a session id is one caller's


def test_a_session_id_reused_by_another_phone_ends_there_and_changes_nothing(at, mother, make_client):
    make_client(phone=OTHER_PHONE, language="sw")
    session = at(CLIENT_PHONE)
    session.play("2", "3", "2")
    intruder = at(OTHER_PHONE, session_id=session.session_id)
    assert intruder.post("2*3*2*1") == "END Samahani, huduma hii haipatikani sasa. Jaribu tena baadaye."
    assert _pickups() == 0
    assert session.send("1") == PICKUP_DONE  # the owner's session goes on untouched
    assert intruder.post("2*3*2*1") == "END Samahani, huduma hii haipatikani sasa. Jaribu tena baadaye."
    assert _pickups() == 1


def test_a_session_id_of_an_ended_session_is_not_taken_over(app, at, client, mother):
    session = at(CLIENT_PHONE)
    session.play("1")
    client.post("/ussd/events", data={"sessionId": session.session_id, "phoneNumber": CLIENT_PHONE,
                                      "status": "Success"})
    _flush(app)
    assert at(UNKNOWN_PHONE, session_id=session.session_id).post("1*1") == UNAVAILABLE
    assert count(Task) == 0


# ---------------------------------------------------------------- the callback itself


def test_the_callback_token_is_enforced(app, settings, mother):
    guarded = create_app(settings.replace(callback_token="s3cret"))
    http = guarded.test_client()
    form = {"sessionId": "ATUid_1", "phoneNumber": CLIENT_PHONE, "text": ""}
    assert http.post("/ussd", data=form).status_code == 403
    assert http.post("/ussd?token=wrong", data=form).status_code == 403
    assert http.post("/ussd/events", data=form).status_code == 403
    answered = http.post("/ussd?token=s3cret", data=form)
    assert answered.status_code == 200 and answered.get_data(as_text=True).startswith("CON Clinic reminders")
    assert http.post("/ussd/events?token=s3cret", data=form).status_code == 200


@pytest.mark.parametrize("form,reason", [
    ({"phoneNumber": CLIENT_PHONE, "text": ""}, "missing field: sessionId"),
    ({"sessionId": "ATUid_1", "text": "1"}, "missing field: phoneNumber"),
    ({"sessionId": " ", "phoneNumber": CLIENT_PHONE, "text": ""}, "missing field: sessionId"),
    ({"sessionId": "x" * 81, "phoneNumber": CLIENT_PHONE, "text": ""}, "field too long: sessionId"),
    ({"sessionId": "ATUid_1", "phoneNumber": "not a phone", "text": ""}, "phone number: not a phone number"),
    ({"sessionId": "ATUid_1", "phoneNumber": CLIENT_PHONE, "text": "1*" * 2001}, "field too long: text"),
])
def test_malformed_session_callbacks_get_a_400_and_change_nothing(app, client, mother, form, reason):
    response = client.post("/ussd", data=form)
    assert response.status_code == 400
    assert response.get_data(as_text=True).startswith(reason)
    assert redis.Redis.from_url(app.config["SETTINGS"].redis_url).keys("ussd:*") == []


def test_a_callback_that_is_not_a_form_gets_a_400(client, mother):
    response = client.post("/ussd", json={"sessionId": "ATUid_1", "phoneNumber": CLIENT_PHONE, "text": ""})
    assert response.status_code == 400 and response.get_data(as_text=True) == "expected a form-encoded POST\n"
    assert client.get("/ussd").status_code == 405


def test_a_missing_text_is_a_first_request(client, mother):
    body = client.post("/ussd", data={"sessionId": "ATUid_1", "phoneNumber": CLIENT_PHONE}).get_data(as_text=True)
    assert body.startswith("CON Clinic reminders")


def test_a_urlencoded_callback_reads_as_werkzeug_would_and_a_flood_of_fields_is_refused(app, client, mother):
    """The body is parsed by ``callbacks.form`` itself; multipart still goes through werkzeug."""
    urlencoded = {"Content-Type": "application/x-www-form-urlencoded"}
    # The first of a repeated field counts; '+' and %XX decode; a blank text is a first request.
    body = (f"sessionId=ATUid_9&sessionId=ATUid_other&phoneNumber={CLIENT_PHONE.replace('+', '%2B')}"
            "&serviceCode=%2A384%2A123%23&text=")
    first = client.post("/ussd", data=body, headers=urlencoded)
    assert first.get_data(as_text=True).startswith("CON Clinic reminders")
    keys = redis.Redis.from_url(app.config["SETTINGS"].redis_url).keys("ussd:session:*")
    assert keys == [b"ussd:session:ATUid_9"]
    as_multipart = client.post("/ussd", data={"sessionId": "ATUid_10", "phoneNumber": CLIENT_PHONE, "text": "1"},
                               content_type="multipart/form-data")
    assert as_multipart.get_data(as_text=True) == NEXT_VISIT

    flood = "&".join(f"f{i}=x" for i in range(200)) + f"&sessionId=ATUid_11&phoneNumber=%2B{CLIENT_PHONE[1:]}"
    refused = client.post("/ussd", data=flood, headers=urlencoded)
    assert refused.status_code == 400 and refused.get_data(as_text=True) == "more than 100 form fields\n"
    assert redis.Redis.from_url(app.config["SETTINGS"].redis_url).get("ussd:session:ATUid_11") is None


@pytest.fixture
def default_limit_140(app):
    """``USSD_MAX_CHARS=140`` (the lowest the shipped menus fit), the menus checked again at it."""
    app.config["SETTINGS"] = app.config["SETTINGS"].replace(ussd_max_chars=140)
    ussd.init_app(app)  # the menus checked again at the new limit, as a start-up would
    yield
    app.config["SETTINGS"] = app.config["SETTINGS"].replace(ussd_max_chars=160)
    ussd.init_app(app)  # the menus checked again at the new limit, as a start-up would


@pytest.mark.parametrize("network,limit,pages", [("63902", 160, 3), ("63903", 184, 3), ("99999", 140, 4),
                                                 ("", 140, 4)])
def test_each_network_gets_its_own_screen_limit(at, make_client, default_limit_140, network, limit, pages):
    make_client(language="en", infants=[{"date_of_birth": "2025-10-01"}, {"date_of_birth": "2024-06-01"}],
                art=ART)
    session = at(CLIENT_PHONE, network=network, limit=limit)
    shown = [session.play("1")]
    while shown[-1].startswith("CON"):
        shown.append(session.send("98"))
    assert len(shown) == pages and all(len(page) <= limit for page in shown)
    # Upcoming visits first; what is overdue (the older child's, and the baby's 12 Nov visit) last, said plainly.
    assert shown[0].startswith("CON Your next visits:\nMon 1 Dec: your child's clinic visit\n")
    assert shown[-1].endswith("Overdue since Sun 1 Dec 2024: your child's clinic visit")


def test_menus_are_checked_at_every_limit_in_use(app, default_limit_140):
    from gateway import ussd

    assert ussd.screen_limits() == (140, 160, 184)
    ussd.init_app(app)
    assert set(app.extensions["ussd_menus"]) == {"client", "coordinator", "unknown"}
    app.config["SETTINGS"] = app.config["SETTINGS"].replace(ussd_max_chars=100)
    with pytest.raises(Exception, match="over the limit of 100"):  # a limit the menus do not fit stops the start
        ussd.init_app(app)


# ---------------------------------------------------------------- failures


def test_an_unexpected_failure_answers_a_short_end_in_her_language(at, make_client, monkeypatch):
    make_client(language="sw")
    import gateway.ussd as ussd

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(ussd, "build_context", broken)
    assert at(CLIENT_PHONE).dial() == "END Samahani, huduma hii haipatikani sasa. Jaribu tena baadaye."


def test_an_effect_that_fails_keeps_nothing_half_done(at, mother, monkeypatch):
    import gateway.appointments

    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(gateway.appointments.reminders, "plan", broken)
    session = at(CLIENT_PHONE)
    assert session.play("2", "3", "2", "1") == "END Sorry, that did not work. Please try again later."
    client = fresh(mother)
    assert (client.art_last_dispensed, client.art_days_supply) == (dt.date(2025, 11, 1), 30)
    assert count(AuditEntry) == 1  # only the enrolment
    monkeypatch.undo()
    assert at(CLIENT_PHONE).play("2", "3", "2", "1") == PICKUP_DONE  # a new session does it


def test_a_date_the_menu_accepts_but_enrolment_refuses_says_it_did_not_work(at, make_coordinator):
    make_coordinator()
    session = at(COORDINATOR_PHONE)
    # 44 weeks ahead passes the menu's check; enrolment takes at most 300 days.
    late = (TODAY + dt.timedelta(days=305)).strftime("%d%m%Y")
    assert session.play("2468", "1", "0821234567", "1", "1", late, "3", "1", "1") == \
        "END Sorry, that did not work. Please try again later."
    assert count(Client) == 0


# ---------------------------------------------------------------- end-of-session notifications


def _ended(client, **fields):
    form = {"date": "2025-11-25 08:03:10", "sessionId": "ATUid_e1", "serviceCode": "*384*123#",
            "networkCode": "63902", "phoneNumber": CLIENT_PHONE, "status": "Incomplete", "cost": "KES 0.00",
            "durationInMillis": "12000", "hopsCount": "2", "input": "1*1357", "lastAppResponse": "CON Enter"}
    form.update(fields)
    return client.post("/ussd/events", data={k: v for k, v in form.items() if v is not None})


def test_end_of_session_notifications_are_kept_once_per_session(client, mother):
    assert _ended(client).status_code == 200
    assert _ended(client).status_code == 200  # AT's repeat
    response = _ended(client, status="Success", durationInMillis="15000", hopsCount="3", cost="KES 0.50",
                      errorMessage="")
    assert response.status_code == 200 and response.get_data(as_text=True) == "ok\n"
    rows = db.session.scalars(select(UssdSession)).all()
    assert len(rows) == 1
    row = rows[0]
    assert (row.session_id, row.phone, row.service_code, row.network_code, row.status, row.cost, row.duration_ms,
            row.hops, row.error_message, row.ended_at) == \
        ("ATUid_e1", CLIENT_PHONE, "*384*123#", "63902", "Success", "KES 0.50", 15000, 3, None,
         dt.datetime(2025, 11, 25, 8, 3, 10))
    # The answers (a PIN among them) and the last screen are not kept anywhere.
    assert "1357" not in str([getattr(row, c.name) for c in UssdSession.__table__.columns])


def test_an_unknown_callers_number_is_kept_masked(client):
    assert _ended(client, phoneNumber=UNKNOWN_PHONE, status="Failed", errorMessage="timeout").status_code == 200
    row = db.session.scalar(select(UssdSession))
    assert (row.phone, row.status, row.error_message) == ("+278******67", "Failed", "timeout")


@pytest.mark.parametrize("fields,reason", [
    ({"sessionId": None}, "missing field: sessionId"),
    ({"phoneNumber": None}, "missing field: phoneNumber"),
    ({"phoneNumber": "12"}, "phoneNumber: "),
    ({"durationInMillis": "12s"}, "durationInMillis: must be a whole number"),
    ({"hopsCount": "-1"}, "hopsCount: must be a whole number"),
    ({"date": "yesterday"}, "date: must be yyyy-MM-dd HH:mm:ss (UTC)"),
    ({"sessionId": "x" * 81}, "field too long: sessionId"),
])
def test_malformed_notifications_get_a_400_and_keep_nothing(client, fields, reason):
    response = _ended(client, **fields)
    assert response.status_code == 400 and response.get_data(as_text=True).startswith(reason)
    assert count(UssdSession) == 0


def test_a_notification_date_with_a_zone_is_read_as_utc(client):
    assert _ended(client, date="2025-11-25T10:03:10+02:00").status_code == 200
    assert db.session.scalar(select(UssdSession.ended_at)) == dt.datetime(2025, 11, 25, 8, 3, 10)
    assert NOW.date() == TODAY


def test_a_session_keeps_the_menu_it_began_with(at, make_client):
    session = at(UNKNOWN_PHONE)
    assert session.dial().startswith("CON Free SMS reminders")
    make_client(phone=UNKNOWN_PHONE, language="en")  # enrolled by a coordinator meanwhile
    assert session.send("1").startswith("CON A health worker will call you to join.")
    assert at(UNKNOWN_PHONE).dial() == MAIN_EN  # her next session is a client's


# ---------------------------------------------------------------- a client recalled from her session record


@pytest.fixture
def statements(app):
    """The SQL statements sent to the database while the block runs: ``with statements() as sent: ...``."""
    @contextlib.contextmanager
    def watch():
        sent: list[str] = []

        def record(conn, cursor, statement, parameters, context, executemany):
            sent.append(statement)

        event.listen(db.engine, "before_cursor_execute", record)
        try:
            yield sent
        finally:
            event.remove(db.engine, "before_cursor_execute", record)
    return watch


def test_a_clients_menu_screens_after_the_first_need_no_query(at, mother, statements):
    session = at(CLIENT_PHONE)
    with statements() as first:
        assert session.dial() == MAIN_EN
    assert len([s for s in first if "clients" in s]) == 1  # who is calling: one query (clients and users)
    with statements() as menus_only:
        assert session.send("4").startswith("CON My settings")
        assert session.send("0") == MAIN_EN
    assert menus_only == []
    with statements() as listing:
        assert session.send("1") == NEXT_VISIT
    assert len(listing) == 1  # her visits, read by her id and number together


def test_a_number_that_changes_hands_mid_session_shows_nothing_of_hers_and_does_nothing(at, mother):
    session = at(CLIENT_PHONE)
    session.play("5")  # a call back, to be confirmed
    listing = at(CLIENT_PHONE)
    listing.dial()
    fresh(mother).phone = OTHER_PHONE  # a coordinator corrects her number meanwhile
    db.session.commit()
    assert session.send("1") == UNAVAILABLE
    assert count(Task) == 0
    assert listing.send("1") == UNAVAILABLE
    assert at(CLIENT_PHONE).dial().startswith("CON Free SMS reminders")  # the number's next session: unknown


def test_the_session_record_keeps_her_as_her_own_change_left_her(at, mother):
    session = at(CLIENT_PHONE)
    session.play("4")
    stop = next(line for line in session.screens[-1].splitlines() if "Stop SMS" in line).split(".")[0]
    assert session.send(stop).startswith("CON ")  # confirm stopping
    kept = sessions.SessionStore(sessions.connection()).load(session.session_id).caller["client"]
    assert kept["opted_out"] is False
    assert session.send("1").startswith("END ")
    assert fresh(mother).opted_out is True
    kept = sessions.SessionStore(sessions.connection()).load(session.session_id).caller["client"]
    assert kept == {**kept, "id": mother.id, "opted_out": True, "language": "en"}


def test_an_effects_ledger_is_read_through_the_callers_own_index(app):
    # Read by actor, the ledger costs the same however many tasks the programme has opened; by entity
    # alone ("task"), an unknown number's lookup read every task's entries.
    from gateway.ussd.effects import _LEDGER

    compiled = _LEDGER.compile(dialect=db.engine.dialect)
    params = {"actor": "ussd:+27840000001", "action": "ussd.request_enrolment", "since": NOW}
    with db.engine.connect() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")
            plan = conn.exec_driver_sql("EXPLAIN " + str(compiled), compiled.construct_params(params)).scalars()
        else:
            plan = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled),
                                        tuple(compiled.construct_params(params)[k] for k in compiled.positiontup)
                                        ).all()
        assert "ix_audit_actor_at" in " ".join(str(row) for row in plan)
