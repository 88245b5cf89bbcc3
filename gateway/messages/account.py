"""The Africa's Talking account: do the credentials work, and what is its balance?

``check_account`` asks AT for the account's application data (its balance)
through the SDK's application service, the cheapest call that proves a
username and API key work together, and says in plain words what came back.
It never raises for anything the network or AT does. ``flask --app wsgi at
check`` prints it (docs/going-live.md).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal

import requests

from gateway.adapters.africastalking import (
    DEFAULT_TIMEOUT_S,
    AfricasTalkingException,
    ATApplicationService,
    ATHTTPError,
)
from gateway.messages.backends import _BAD_URL, _describe, _scrub, parse_cost

Verdict = Literal["works", "refused", "unreachable", "error"]


@dataclass(frozen=True)
class AccountCheck:
    """What AT said about the credentials.

    ``verdict``: ``works`` (AT answered with the balance), ``refused`` (AT
    turned the username and key down), ``unreachable`` (no answer from AT's
    address) or ``error`` (an answer that was not the balance).
    """

    verdict: Verdict
    url: str  # where the question went (without ?username=)
    balance: str | None = None  # AT's own text, e.g. "KES 1234.00"
    amount: Decimal | None = None  # read from balance, when readable
    currency: str | None = None
    http_status: int | None = None
    problem: str | None = None  # what went wrong, one line, for a person

    @property
    def works(self) -> bool:
        return self.verdict == "works"


def check_account(username: str, api_key: str, api_url: str | None = None,
                  timeout: tuple[float, float] = DEFAULT_TIMEOUT_S) -> AccountCheck:
    """Ask AT for the account's balance with these credentials (one GET ``{base}/version1/user``)."""
    service = ATApplicationService(username, api_key, api_url)
    url = service.user_url
    try:
        reply = service.fetch_application_data(timeout=timeout)
    except ATHTTPError as exc:
        body = _scrub(exc.body)
        if exc.status == 401:
            return AccountCheck("refused", url, http_status=401,
                                problem=f"AT refused this username and API key (HTTP 401: {body})")
        if exc.status >= 500:
            return AccountCheck("error", url, http_status=exc.status,
                                problem=f"AT's side failed (HTTP {exc.status}: {body}); try again in a few minutes")
        return AccountCheck("error", url, http_status=exc.status, problem=f"AT answered HTTP {exc.status}: {body}")
    except AfricasTalkingException as exc:  # no status: only if an SDK release stops calling our hook
        return AccountCheck("error", url, problem=f"AT answered an error: {_scrub(str(exc))}")
    except _BAD_URL as exc:
        return AccountCheck("unreachable", url, problem=f"AT_API_URL is not a usable URL ({type(exc).__name__})")
    except requests.RequestException as exc:
        return AccountCheck("unreachable", url, problem=f"no answer from {url}: {_describe(exc)}")
    return _read_balance(reply, url)


def _read_balance(reply: object, url: str) -> AccountCheck:
    if isinstance(reply, str):  # the SDK parses JSON only under exactly "application/json"
        try:
            reply = json.loads(reply)
        except ValueError:
            pass
    data = reply.get("UserData") if isinstance(reply, dict) else None
    balance = data.get("balance") if isinstance(data, dict) else None
    if not isinstance(balance, str):
        return AccountCheck("error", url, problem="the answer is not AT's account data (check AT_API_URL)")
    amount, currency = parse_cost(balance)
    return AccountCheck("works", url, balance=balance.strip(), amount=amount, currency=currency, http_status=200)
