"""``sessions.SessionStore`` against the real Redis: the lock and the record, two round trips a request."""
import pytest
import redis

from gateway.ussd import sessions
from gateway.ussd.sessions import KEY_PREFIX, LOCK_PREFIX, BusySession, SessionRecord, SessionStore

RECORD = SessionRecord("+27821234567", "2*3", {"at": "confirm"}, "Confirm?", False, {"kind": "unknown", "id": None})


@pytest.fixture
def conn(app):
    return redis.Redis.from_url(app.config["SETTINGS"].redis_url)


def test_the_record_kept_is_written_as_the_lock_is_released(conn):
    store = SessionStore(conn)
    with store.locked("s1") as held:
        assert held.record is None
        assert conn.get(LOCK_PREFIX + "s1") is not None
        held.keep(RECORD)
        assert conn.get(KEY_PREFIX + "s1") is None  # not before the release
    assert conn.get(LOCK_PREFIX + "s1") is None
    assert 0 < conn.ttl(KEY_PREFIX + "s1") <= sessions.SESSION_TTL
    with store.locked("s1") as held:
        assert held.record == RECORD  # read with the lock
    assert store.load("s1") == RECORD  # and a release that keeps nothing leaves it as it was


def test_a_request_that_lost_its_lock_to_a_retry_writes_nothing(conn):
    store = SessionStore(conn)
    with store.locked("s2") as held:
        conn.set(LOCK_PREFIX + "s2", "the retry's token")  # ours expired (LOCK_SECONDS) and the retry took it
        held.keep(RECORD)
    assert conn.get(KEY_PREFIX + "s2") is None
    assert conn.get(LOCK_PREFIX + "s2") == b"the retry's token"  # and its lock is left alone


def test_a_lock_that_expired_with_no_one_waiting_still_keeps_the_record(conn):
    store = SessionStore(conn)
    with store.locked("s3") as held:
        conn.delete(LOCK_PREFIX + "s3")
        held.keep(RECORD)
    assert store.load("s3") == RECORD


def test_a_held_lock_is_waited_for_then_given_up(conn):
    conn.set(LOCK_PREFIX + "s4", "another request", px=5000)
    with pytest.raises(BusySession):
        with SessionStore(conn).locked("s4", wait=0.05):
            pass
    assert conn.get(LOCK_PREFIX + "s4") == b"another request"


def test_a_record_of_another_version_or_shape_reads_as_none(conn):
    conn.set(KEY_PREFIX + "s5", b'{"v": 1, "phone": "+27821234567"}')
    conn.set(KEY_PREFIX + "s6", b"not json")
    store = SessionStore(conn)
    assert store.load("s5") is None and store.load("s6") is None
    with store.locked("s5") as held:
        assert held.record is None


def test_a_redis_that_does_not_know_the_release_script_is_sent_it_whole(conn):
    conn.script_flush()  # a new or restarted Redis
    store = SessionStore(conn)
    with store.locked("s7") as held:
        held.keep(RECORD)
    assert store.load("s7") == RECORD and conn.get(LOCK_PREFIX + "s7") is None
    assert conn.script_exists(sessions._RELEASE_AND_KEEP_SHA) == [True]  # sent by its hash from now on


def test_an_error_reply_fails_the_store_and_leaves_its_connection_usable(conn):
    conn.hset(KEY_PREFIX + "s8", "not", "a string")  # GET answers WRONGTYPE after SET NX succeeded
    store = SessionStore(conn)
    with store.locked("s8") as held:
        assert held.record is None
    assert store.available is False  # the rest of the request runs on its path alone
    # Both replies were read: the pooled connection answers the next command with its own reply.
    assert conn.get(LOCK_PREFIX + "s8") is not None and conn.ping() is True
    with SessionStore(conn).locked("s9") as held:
        held.keep(RECORD)
    assert SessionStore(conn).load("s9") == RECORD
