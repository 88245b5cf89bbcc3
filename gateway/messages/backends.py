"""SMS backends: one request to Africa's Talking, or to the outbox, and what became of each phone.

A backend's ``send(text, phones)`` makes ONE request for at most
``max_recipients`` phones and never raises for anything the network or AT
does: every failure becomes data in the ``SendResult``. The caller (the
dispatch job) decides what to store, retry or pause. See
docs/africastalking.md for the status-code table and the crash window.
"""
from __future__ import annotations

import json
import logging
import re
import uuid
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, Protocol

import requests
from africastalking.Service import validate_phone
from urllib3.exceptions import NewConnectionError

from gateway.core.phones import mask_numbers, masked
from gateway.adapters.africastalking import DEFAULT_TIMEOUT_S, AfricasTalkingException, ATHTTPError, ATSMSService

log = logging.getLogger(__name__)

State = Literal["accepted", "retry", "permanent", "failed"]
STATES: tuple[State, ...] = ("accepted", "retry", "permanent", "failed")

# AT's per-recipient statusCode -> (AT's name, what the gateway does with that phone).
#   accepted:  AT took it; wait for the delivery report.
#   retry:     try this phone again later with backoff (the caller caps attempts).
#   permanent: the number itself is unusable: flag it, never retry.
#   failed:    this message is given up, the number is not flagged.
STATUS_CODES: dict[int, tuple[str, State]] = {
    100: ("Processed", "accepted"),
    101: ("Sent", "accepted"),
    102: ("Queued", "accepted"),
    # Account problems, not the message's: SendResult.account_refusal is set so the
    # caller pauses sending without counting an attempt; the message waits.
    401: ("RiskHold", "retry"),
    402: ("InvalidSenderId", "retry"),
    403: ("InvalidPhoneNumber", "permanent"),
    404: ("UnsupportedNumberType", "permanent"),
    # Also sets SendResult.insufficient_balance: the caller pauses until a top-up.
    405: ("InsufficientBalance", "retry"),
    406: ("UserInBlacklist", "permanent"),
    # No route to the network right now (an operator link down, a ported number):
    # often transient, and retries are bounded by the caller's attempt cap.
    407: ("CouldNotRoute", "retry"),
    # The subscriber has Do-Not-Disturb on: the same text is refused again until
    # she changes it, but the number is fine, so it is not flagged.
    409: ("DoNotDisturbRejection", "failed"),
    # AT's or the operator gateway's own failure: transient.
    500: ("InternalServerError", "retry"),
    501: ("GatewayError", "retry"),
    # The operator refused this message: resending the same is refused again.
    502: ("RejectedByGateway", "failed"),
}
ACCOUNT_CODES = frozenset({401, 402})
INSUFFICIENT_BALANCE = 405

# HTTP statuses of a whole request that are worth retrying; any other non-2xx
# (401 bad key, 403, 400 ...) is a problem with the account or configuration.
RETRYABLE_HTTP = frozenset({408, 425, 429})
_BAD_URL = (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema, requests.exceptions.InvalidURL)


def classify(status_code: int) -> State:
    """The state for an AT per-recipient ``statusCode``; unknown codes are never ``accepted``.

    Unknown 5xx codes are AT-side failures and retried; any other unknown code
    fails the message (retrying what we do not understand risks a duplicate).
    """
    known = STATUS_CODES.get(status_code)
    if known is not None:
        return known[1]
    return "retry" if 500 <= status_code <= 599 else "failed"


_COST = re.compile(r"\s*(?:([A-Za-z]{3})\s+)?(\d{1,12}(?:\.\d{1,12})?)\s*", re.ASCII)
_MAX_COST = Decimal(10) ** 8  # the message table stores Numeric(12, 4)


def parse_cost(raw: object) -> tuple[Decimal | None, str | None]:
    """Read AT's cost string: ``"KES 0.8000"`` -> ``(Decimal("0.8000"), "KES")``.

    ``"0"`` (a refused recipient) -> ``(Decimal("0"), None)``. Anything
    unreadable, negative or implausibly large -> ``(None, None)``. Never raises.
    """
    if not isinstance(raw, str):
        return None, None
    match = _COST.fullmatch(raw)
    if match is None:
        return None, None
    try:
        amount = Decimal(match.group(2))
    except InvalidOperation:  # pragma: no cover - the pattern admits only digits
        return None, None
    if amount >= _MAX_COST:
        return None, None
    currency = match.group(1)
    return amount, currency.upper() if currency else None


@dataclass(frozen=True)
class Outcome:
    """What became of one phone in one request."""

    phone: str  # E.164, as given to send()
    state: State
    status_code: int | None = None  # AT's per-recipient statusCode; None if AT never judged it
    provider_id: str | None = None  # AT's messageId (None when AT says "None"); outbox-<hex> for the outbox
    cost_amount: Decimal | None = None
    cost_currency: str | None = None  # ISO 4217, e.g. "KES"
    reason: str | None = None  # AT's status text ("Success", "UserInBlacklist") or why it was not sent


@dataclass
class SendResult:
    """The outcome of one request: one ``Outcome`` per distinct phone, plus request-level facts.

    When the whole request failed (``retryable_error``, or an ``account_refusal``
    without recipients), every phone it carried is ``retry`` with that reason.
    """

    outcomes: dict[str, Outcome] = field(default_factory=dict)  # by phone
    # AT refused the whole request for an account reason (201 with no recipients,
    # HTTP 401 bad key, per-recipient 401 RiskHold / 402 InvalidSenderId): pause, don't burn retries.
    account_refusal: str | None = None
    # Any recipient came back 405 InsufficientBalance: pause sending until a top-up.
    insufficient_balance: bool = False
    # HTTP 5xx, timeout, connection error, non-JSON or unreadable reply: retry the whole request.
    retryable_error: str | None = None
    # With retryable_error: the request may have reached AT (a read timeout, a dropped
    # connection, an unreadable 2xx), so a retry may deliver a second copy.
    maybe_sent: bool = False
    http_status: int | None = None  # of AT's reply, when there was one

    def by_state(self, state: State) -> list[Outcome]:
        """The outcomes in one state, in request order."""
        return [o for o in self.outcomes.values() if o.state == state]


class SMSBackend(Protocol):
    """Something that sends one text to at most ``max_recipients`` phones in one request."""

    name: str
    max_recipients: int

    def send(self, text: str, phones: list[str]) -> SendResult: ...


def _distinct(phones: list[str], cap: int) -> list[str]:
    """The phones of one request, each once, in order; ValueError past the cap.

    A phone listed twice gets the text once (one Outcome for it): the same text
    twice to one person in one request is never wanted.
    """
    if len(phones) > cap:
        raise ValueError(f"{len(phones)} recipients in one request; the limit is {cap} (AT_MAX_RECIPIENTS)")
    return list(dict.fromkeys(phones))


def _refused_before_sending(phone: str) -> Outcome:
    # The SDK refuses the whole request (ValueError) if any number fails its
    # pattern, so such numbers are taken out first, with the SDK's own check.
    return Outcome(phone, "permanent", reason="InvalidPhoneNumber (not sent)")


class AfricasTalkingBackend:
    """Sends through the official SDK (``ATSMSService``), bulk mode, with the sender id."""

    name = "africastalking"

    def __init__(self, username: str, api_key: str, *, sender_id: str | None = None,
                 api_url: str | None = None, max_recipients: int = 100,
                 timeout: tuple[float, float] = DEFAULT_TIMEOUT_S, enqueue: bool = False) -> None:
        self.service = ATSMSService(username, api_key, api_url)
        self.sender_id = sender_id
        self.max_recipients = max_recipients
        self.timeout = timeout  # (connect, read) seconds, as requests takes it
        self.enqueue = enqueue  # AT's enqueue=1: answer at once, send from AT's queue

    def __repr__(self) -> str:
        return f"AfricasTalkingBackend({self.service!r}, sender_id={self.sender_id!r})"

    def send(self, text: str, phones: list[str]) -> SendResult:
        """Send ``text`` to ``phones`` in one AT request; never raises except ValueError past the cap."""
        result = SendResult()
        wanted: list[str] = []
        for phone in _distinct(phones, self.max_recipients):
            if validate_phone(phone):
                wanted.append(phone)
            else:
                result.outcomes[phone] = _refused_before_sending(phone)
        while wanted:
            try:
                reply = self.service.send(text, wanted, sender_id=self.sender_id,
                                          enqueue=self.enqueue, timeout=self.timeout)
            except ATHTTPError as exc:
                result.http_status = exc.status
                body = _scrub(exc.body)
                if exc.status >= 500 or exc.status in RETRYABLE_HTTP:
                    self._whole_request(result, wanted, retryable=f"HTTP {exc.status} from AT: {body}",
                                        maybe_sent=exc.status >= 500)
                else:
                    self._whole_request(result, wanted, refusal=f"HTTP {exc.status} from AT: {body}")
            except AfricasTalkingException as exc:
                # No status: only if an SDK release stops calling the hook in africastalking.py.
                # A bad key says so in its body; anything else is taken as passing.
                body = _scrub(str(exc))
                if "authentication" in body.lower():
                    self._whole_request(result, wanted, refusal=f"AT refused: {body}")
                else:
                    self._whole_request(result, wanted, retryable=f"AT error: {body}", maybe_sent=True)
            except _BAD_URL as exc:
                # AT_API_URL is not a URL: retrying cannot help, someone must fix the setting.
                self._whole_request(result, wanted, refusal=f"AT_API_URL is not usable: {type(exc).__name__}")
            except requests.exceptions.JSONDecodeError:
                # Content-Type said application/json, the body was not.
                self._whole_request(result, wanted, retryable="AT's JSON reply could not be read", maybe_sent=True)
            except requests.RequestException as exc:
                self._whole_request(result, wanted, retryable=_describe(exc), maybe_sent=_maybe_sent(exc))
            except ValueError as exc:
                # The SDK refuses the whole request for one malformed number. validate_phone
                # above is its own check, so this is reached only if the SDK's check changes.
                bad = str(exc).removeprefix("Invalid phone number: ")
                if bad in wanted:
                    wanted.remove(bad)
                    result.outcomes[bad] = _refused_before_sending(bad)
                    continue
                self._whole_request(result, wanted, retryable=f"the SDK refused the request: {_scrub(str(exc))}")
            else:
                try:
                    self._read_reply(reply, wanted, result)
                except Exception as exc:  # a reply shape nobody foresaw must not crash the send job
                    log.exception("unreadable reply from AT")
                    self._whole_request(result, wanted, maybe_sent=True,
                                        retryable=f"unreadable reply from AT: {type(exc).__name__}")
            break
        self._log(result)
        return result

    @staticmethod
    def _whole_request(result: SendResult, phones: list[str], *, retryable: str | None = None,
                       refusal: str | None = None, maybe_sent: bool = False) -> None:
        """Mark every phone of a request that got no per-recipient answer."""
        result.retryable_error = retryable
        result.account_refusal = refusal
        result.maybe_sent = maybe_sent
        for phone in phones:
            result.outcomes[phone] = Outcome(phone, "retry", reason=retryable or refusal)

    def _read_reply(self, reply: Any, phones: list[str], result: SendResult) -> None:
        """Turn AT's 201 body into outcomes."""
        if isinstance(reply, str):
            # The SDK hands back the body as text unless Content-Type is exactly
            # "application/json". A 201 that is AT's JSON under another header
            # ("; charset=utf-8") means AT took the messages: read it rather than resend them.
            try:
                reply = json.loads(reply)
            except ValueError:
                pass
        if not isinstance(reply, dict):
            self._whole_request(result, phones, maybe_sent=True,
                                retryable=f"AT replied with something other than JSON ({len(str(reply))} characters)")
            return
        data = reply.get("SMSMessageData")
        if not isinstance(data, dict):
            self._whole_request(result, phones, retryable="AT's reply has no SMSMessageData", maybe_sent=True)
            return
        recipients = data.get("Recipients") or []
        if not recipients:
            # An account-level refusal: a 201 with nobody in it and the reason in Message.
            reason = _scrub(str(data.get("Message") or ""))
            self._whole_request(result, phones, refusal=reason or "AT accepted no recipient and gave no reason")
            return
        pending = set(phones)
        for entry in recipients:
            number = str(entry.get("number", "")).strip()
            phone = "+" + number.lstrip("+")  # in case AT ever drops the plus
            if phone not in pending:
                log.warning("AT answered for a number not in the request: %s", masked(number))
                continue
            pending.discard(phone)
            result.outcomes[phone] = outcome = self._recipient(phone, entry)
            if outcome.status_code in ACCOUNT_CODES:
                result.account_refusal = result.account_refusal or outcome.reason
            if outcome.status_code == INSUFFICIENT_BALANCE:
                result.insufficient_balance = True
        for phone in phones:
            if phone not in result.outcomes:
                result.outcomes[phone] = Outcome(phone, "retry", reason="not in AT's reply")

    @staticmethod
    def _recipient(phone: str, entry: dict) -> Outcome:
        try:
            code: int | None = int(entry.get("statusCode"))
        except (TypeError, ValueError):
            code = None
        message_id = entry.get("messageId")
        provider_id = str(message_id) if message_id not in (None, "", "None") else None
        amount, currency = parse_cost(entry.get("cost"))
        name = STATUS_CODES.get(code, (None,))[0] if code is not None else None
        reason = str(entry.get("status") or name or f"statusCode {code}")[:100]
        # An unreadable code is never retried: AT may have sent it.
        state = classify(code) if code is not None else "failed"
        return Outcome(phone, state, code, provider_id, amount, currency, reason)

    @staticmethod
    def _log(result: SendResult) -> None:
        counts = " ".join(f"{state}={len(result.by_state(state))}" for state in STATES if result.by_state(state))
        log.info("AT send: %d recipients, %s", len(result.outcomes), counts)
        for outcome in result.by_state("permanent"):
            log.warning("AT refused %s for good: %s", masked(outcome.phone), outcome.reason)
        if result.account_refusal:
            log.error("AT refused the account: %s", result.account_refusal)
        if result.insufficient_balance:
            log.error("AT account balance is insufficient")
        if result.retryable_error:
            log.warning("AT request to be retried: %s", result.retryable_error)


def _scrub(text: str, limit: int = 200) -> str:
    """AT's text for a log line or ``last_error``: one line, short, phone-like numbers masked."""
    return mask_numbers(" ".join(text.split()))[:limit]


def _describe(exc: requests.RequestException) -> str:
    kind = type(exc).__name__
    if isinstance(exc, requests.ConnectTimeout):
        return f"{kind}: AT did not accept the connection in time"
    if isinstance(exc, requests.Timeout):
        return f"{kind}: AT did not answer in time"
    if isinstance(exc, requests.ConnectionError):
        return f"{kind}: the connection to AT failed or was dropped"
    return f"{kind}: the request to AT failed"


def _maybe_sent(exc: requests.RequestException) -> bool:
    """Whether AT may have received the request although no answer came back."""
    if isinstance(exc, requests.ConnectTimeout):
        return False
    if isinstance(exc, requests.ConnectionError):
        # Refused or unresolvable: urllib3 never got a connection, so nothing was sent.
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return not isinstance(reason, NewConnectionError)  # NameResolutionError is one too
    return True


class OutboxBackend:
    """Sends nothing: every valid phone is accepted with an ``outbox-<hex>`` id and no cost."""

    name = "outbox"

    def __init__(self, max_recipients: int = 100) -> None:
        self.max_recipients = max_recipients

    def __repr__(self) -> str:
        return "OutboxBackend()"

    def send(self, text: str, phones: list[str]) -> SendResult:
        """As ``AfricasTalkingBackend.send`` (same cap, same number check), minus the network."""
        result = SendResult()
        for phone in _distinct(phones, self.max_recipients):
            if validate_phone(phone):
                result.outcomes[phone] = Outcome(phone, "accepted", provider_id=f"outbox-{uuid.uuid4().hex}",
                                                 reason="outbox")
            else:
                result.outcomes[phone] = _refused_before_sending(phone)
        log.info("outbox: %d recipients", len(result.outcomes))
        return result


def get_backend(settings, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT_S) -> SMSBackend:
    """The backend ``settings.sms_backend`` names, configured from the AT settings."""
    if settings.sms_backend == "outbox":
        return OutboxBackend(settings.at_max_recipients)
    if settings.sms_backend == "africastalking":
        if not (settings.at_username and settings.at_api_key):
            raise ValueError("SMS_BACKEND=africastalking needs AT_USERNAME and AT_API_KEY")
        return AfricasTalkingBackend(settings.at_username, settings.at_api_key, sender_id=settings.at_sender_id,
                                     api_url=settings.at_api_url, max_recipients=settings.at_max_recipients,
                                     timeout=timeout)
    raise ValueError(f"unknown SMS backend {settings.sms_backend!r}")
