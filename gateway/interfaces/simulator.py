"""A terminal phone: ``flask --app wsgi ussd simulate [PHONE]`` plays one USSD session through ``gateway.ussd.handle``.

It sends what Africa's Talking would: a new session id, an empty path first,
then every answer so far joined by ``*``. So it runs the real session store,
replay, effects and database, only without HTTP. Reads answers from the
terminal or from a pipe (``printf '2\\n3\\n1\\n' | flask ... ussd simulate +27...``)
and stops at the END screen or at the end of input.
"""
from __future__ import annotations

import secrets
from typing import Callable, TextIO

from gateway.interfaces.callbacks.ussd import at_reply
from gateway.ussd import BadRequest, Screen, UssdRequest, handle, max_chars_for
from gateway.ussd.sessions import SEPARATOR


def session_id() -> str:
    """A session id shaped like AT's (``ATUid_`` and 32 hex digits), marked as simulated."""
    return "SIMUid_" + secrets.token_hex(16)


def run(phone: str, answers: TextIO, write: Callable[[str], None], network: str | None = None,
        service_code: str | None = None) -> Screen:
    """Play one session: show each screen, read the next answer, until END or end of input. Returns the last screen.

    Raises ``BadRequest`` when ``phone`` cannot be a caller's number.
    """
    sid, given = session_id(), []
    limit = max_chars_for(network)
    while True:
        screen = handle(UssdRequest(sid, phone, SEPARATOR.join(given), network, service_code))
        shown = at_reply(screen.text, screen.end)
        write(f"{screen.text}\n-- {len(shown)}/{limit} characters{', session ended' if screen.end else ''} --\n")
        if screen.end:
            return screen
        write("> ")
        line = answers.readline()
        if line == "":  # end of input: the caller hung up
            write("\n(hung up)\n")
            return screen
        answer = line.rstrip("\r\n")
        if not answers.isatty():  # piped: show the answer, as a terminal would have
            write(answer + "\n")
        given.append(answer)


__all__ = ["run", "session_id", "BadRequest"]
