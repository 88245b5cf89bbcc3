"""USSD session records in Redis, keyed by the network's session id, and the path of answers.

A record holds what the adapter needs between two requests of one session:
the engine's state, the path of answers it was computed from (AT's
cumulative ``text``), the phone number the session belongs to and the last
reply, so a repeated request is answered with the same screen. No answer is
kept as typed: the path is kept as a keyed digest of each answer
(``path_digest``: a PIN typed on the phone never sits in Redis), and a state
holding a new PIN between two screens is not kept at all (the next request
replays the path, which AT sends whole every time). Records live
``SESSION_TTL`` seconds after the last request: long enough for any session
(operators end them after about 180 s), short enough that a new PIN typed
twice (kept in the state between two requests) does not linger.

Redis is transport here, not the truth: a lost record is rebuilt by
replaying the path (see ``gateway.ussd``), and effects are guarded in the
database. So a Redis error is logged and read as "no record"; it never
fails a caller's request by itself.
"""
from __future__ import annotations

import contextlib
import hashlib
import hmac
import itertools
import json
import logging
import os
import secrets
import time
from dataclasses import dataclass, fields
from typing import Any, Iterator

import redis
from flask import current_app
from redis.backoff import NoBackoff
from redis.exceptions import NoScriptError
from redis.retry import Retry

log = logging.getLogger(__name__)

SESSION_TTL = 180  # seconds after the last request; AT ends a session after about 180 s
# A request still being answered holds its session's lock at most this long: AT gives up
# after about 10 s, so a lock older than that belongs to an answer nobody waits for.
LOCK_SECONDS = 10
# How long a repeated request (AT's retry) waits for the first one to finish, in seconds.
LOCK_WAIT = 8
LOCK_POLL = 0.01  # seconds between two tries of a held lock
# Seconds a Redis call of the USSD path may take. The app's own client (redis_store.get_redis)
# waits up to 10 s and retries with backoff, which is AT's whole budget for an answer; a session
# record is rebuilt from the path anyway, so this client gives up at once instead.
REDIS_TIMEOUT = 1.0
RECORD_VERSION = 3  # 2: the caller kept as context.Caller.key (a client's ClientView); 3: the path as digests
KEY_PREFIX = "ussd:session:"
LOCK_PREFIX = "ussd:lock:"
SEPARATOR = "*"  # how AT joins the answers of one session


def connection() -> redis.Redis:
    """A client of the app's Redis for the USSD path: short timeouts, no retries (one per process)."""
    conn = current_app.extensions.get("ussd_redis")
    if conn is None:
        from gateway.adapters.redis_store import embedded_url

        settings = current_app.config["SETTINGS"]
        url = settings.redis_url or embedded_url(settings.instance_path)
        conn = redis.Redis.from_url(url, socket_timeout=REDIS_TIMEOUT, socket_connect_timeout=REDIS_TIMEOUT,
                                    retry=Retry(NoBackoff(), 0))
        current_app.extensions["ussd_redis"] = conn
    return conn


@dataclass(frozen=True)
class SessionRecord:
    """What is kept for one session between two requests."""

    phone: str  # E.164 of the caller the session belongs to
    path: str  # every answer so far as the last request carried it, each a digest (path_digest), joined by "*"
    state: dict[str, Any] | None  # the engine's state after that request (None: replay the path)
    reply_text: str  # the reply to that request (without CON/END)
    reply_end: bool
    caller: dict | None = None  # who the session began with, as context.Caller.key gives it
    v: int = RECORD_VERSION


DIGEST_CHARS = 16  # 64 bits of HMAC-SHA256 an answer


def _digest_key() -> bytes:
    key = current_app.extensions.get("ussd_path_key")
    if key is None:  # derived from SECRET_KEY, for this use only
        key = hashlib.sha256(b"ussd-path:" + str(current_app.config["SECRET_KEY"]).encode()).digest()
        current_app.extensions["ussd_path_key"] = key
    return key


def _digests(answers: list[str]) -> list[str]:
    key = _digest_key()
    return [hmac.new(key, answer.encode("utf-8", "replace"), "sha256").hexdigest()[:DIGEST_CHARS]
            for answer in answers]


def path_digest(path: str) -> str:
    """``path`` as a record keeps it: each answer replaced by a keyed digest, joined by ``*`` ("" stays "").

    Two paths have the same digest exactly when they are the same path, and one
    extends another exactly when its digest does, so the record answers every
    question the raw path did (a retry, a late retry, the newest answer)
    without holding a PIN or a date of birth.
    """
    return SEPARATOR.join(_digests(answers_of(path)))


def extends(kept: str, path: str) -> bool:
    """Whether ``path`` is an earlier path of the session than the kept digest (a late retry)."""
    earlier = answers_of(path)
    recorded = answers_of(kept)
    return (path == "" and kept != "") or (len(earlier) < len(recorded)
                                           and _digests(earlier) == recorded[:len(earlier)])


def latest_answer(previous: str, path: str) -> str | None:
    """The one answer ``path`` adds to the kept digest ``previous``; ``None`` when ``path`` does not extend it.

    Everything after the answers ``previous`` holds is the answer, so an answer
    that itself contains a ``*`` arrives whole.
    """
    if previous == "":
        return path if path != "" else None
    kept = answers_of(previous)
    typed = answers_of(path)
    if len(typed) > len(kept) and _digests(typed[:len(kept)]) == kept:
        return SEPARATOR.join(typed[len(kept):])
    return None


def answers_of(path: str) -> list[str]:
    """Every answer of a path, in order (a ``*`` typed inside an answer cannot be told apart)."""
    return path.split(SEPARATOR) if path else []


class BusySession(Exception):
    """Another request of the same session is still being answered."""


# Released with the record written in one round trip. The record is written only while the lock is
# still this request's (or no one's): a request that outlived LOCK_SECONDS and lost its lock to AT's
# retry leaves the session to the retry.
# KEYS[1] the lock, KEYS[2] the record; ARGV[1] this request's token, ARGV[2] the record ("": none), ARGV[3] TTL.
# Sent by its SHA1 (EVALSHA), and whole (EVAL) when Redis does not know it yet.
_RELEASE_AND_KEEP = b"""
local holder = redis.call('GET', KEYS[1])
if holder == ARGV[1] then
  redis.call('DEL', KEYS[1])
elseif holder then
  return 0
end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[2], ARGV[2], 'EX', tonumber(ARGV[3]))
end
return 1
"""
_RELEASE_AND_KEEP_SHA = hashlib.sha1(_RELEASE_AND_KEEP).hexdigest()


# Lock tokens: a random part drawn once per process (machines share the Redis), then a count.
_PROCESS, _TOKENS = secrets.token_hex(6), itertools.count(1)


@dataclass
class Held:
    """A session while its lock is held: the record read with the lock, and the one to write at release."""

    record: SessionRecord | None = None
    kept: SessionRecord | None = None

    def keep(self, record: SessionRecord) -> None:
        """Write ``record`` when the lock is released (kept ``SESSION_TTL`` seconds from then)."""
        self.kept = record


def _encoded(record: SessionRecord) -> str:
    return json.dumps({f.name: getattr(record, f.name) for f in fields(SessionRecord)}, separators=(",", ":"))


def _decoded(raw: bytes | None) -> SessionRecord | None:
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        if data.get("v") != RECORD_VERSION:
            return None
        return SessionRecord(**data)
    except (ValueError, TypeError, AttributeError):
        return None  # a record of another shape: rebuilt from the path like a lost one


class SessionStore:
    """Session records and per-session locks in one Redis: two round trips a request.

    Taking the lock reads the record (SET NX and GET sent together);
    releasing it writes the new one (one script). After the first Redis error the store stops
    using Redis for the rest of its life (one request), so a Redis that has
    gone away costs one timeout, not one per call.
    """

    def __init__(self, conn: redis.Redis, ttl: int = SESSION_TTL):
        self.conn, self.ttl = conn, ttl
        self.available = True

    def _failed(self, what: str, exc: Exception) -> None:
        self.available = False
        log.warning("USSD sessions: Redis %s failed (%s); answering from the path alone", what, exc)

    def _round_trip(self, *commands: tuple) -> list:
        """Send ``commands`` together on one of the client's pooled connections; their replies, in order.

        The client's own command path (a pipeline object, the retry wrapper,
        its observability hooks) costs about twice the round trip itself on
        every USSD request (docs/performance.md); this store needs only
        commands sent and replies read. A connection that failed halfway is
        closed, not put back with a reply left unread.
        """
        pool = self.conn.connection_pool
        connection = pool.get_connection()
        try:
            connection.send_packed_command(connection.pack_commands(commands))
            replies, failure = [], None
            for _ in commands:  # every reply is read, so the connection goes back clean
                try:
                    replies.append(connection.read_response())
                except redis.ResponseError as exc:  # an error reply: the others still come
                    failure = failure or exc
            if failure is not None:
                raise failure
            return replies
        except redis.ResponseError:
            raise
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    def load(self, session_id: str) -> SessionRecord | None:
        """The session's record, or None (none, expired, unreadable, or Redis unavailable); without the lock."""
        if not self.available:
            return None
        try:
            return _decoded(self.conn.get(KEY_PREFIX + session_id))
        except redis.RedisError as exc:
            self._failed("read", exc)
            return None

    def _acquire(self, session_id: str, wait: float) -> tuple[str, bytes | None]:
        token = f"{_PROCESS}.{os.getpid()}.{next(_TOKENS)}"  # this request's own (no secret; no urandom a request)
        deadline = time.monotonic() + wait
        while True:
            taken, raw = self._round_trip(("SET", LOCK_PREFIX + session_id, token, "NX", "PX", LOCK_SECONDS * 1000),
                                          ("GET", KEY_PREFIX + session_id))
            if taken:
                return token, raw
            if time.monotonic() >= deadline:
                raise BusySession(session_id)
            time.sleep(LOCK_POLL)

    @contextlib.contextmanager
    def locked(self, session_id: str, wait: float | None = None) -> Iterator[Held]:
        """Hold the session's lock while answering one request: AT's retry waits for the first answer.

        Yields a ``Held``: the record as the lock found it, and ``keep(record)``
        for the one to write as the lock is released. Raises ``BusySession``
        if the lock is still held after ``wait`` seconds. Without Redis the
        request goes on unlocked and unrecorded (effects stay guarded in the
        database; the path rebuilds the session).
        """
        held, token = Held(), None
        if self.available:
            try:
                token, raw = self._acquire(session_id, LOCK_WAIT if wait is None else wait)
                held.record = _decoded(raw)
            except redis.RedisError as exc:
                self._failed("lock", exc)
        try:
            yield held
        finally:
            if token is not None and self.available:
                kept = _encoded(held.kept) if held.kept is not None else ""
                keys_and_args = (2, LOCK_PREFIX + session_id, KEY_PREFIX + session_id, token, kept, self.ttl)
                try:
                    try:
                        self._round_trip(("EVALSHA", _RELEASE_AND_KEEP_SHA, *keys_and_args))
                    except NoScriptError:  # a Redis that has not seen it yet (or was flushed): sent whole once
                        self._round_trip(("EVAL", _RELEASE_AND_KEEP, *keys_and_args))
                except redis.RedisError as exc:
                    self._failed("write", exc)


def forget_phone(phone: str) -> int:
    """Delete every session record of this number (an erased client's); how many went."""
    conn, gone = connection(), 0
    for key in conn.scan_iter(match=KEY_PREFIX + "*", count=500):
        record = _decoded(conn.get(key))
        if record is not None and record.phone == phone:
            gone += conn.delete(key)
    return gone
