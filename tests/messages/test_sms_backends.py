"""AfricasTalkingBackend against the fake AT over real HTTP, the outbox backend, and get_backend."""
from __future__ import annotations

import re
import socket
import time
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.core.config import Settings
from gateway.messages.backends import AfricasTalkingBackend, OutboxBackend, get_backend

OK = "+254712345678"
INVALID_NUMBER = "+254703000001"  # the fake AT answers 403 for it
UNSUPPORTED = "+254704000001"
BALANCE = "+254705000001"
BLACKLISTED = "+254706000001"


def test_one_accepted_recipient_has_message_id_and_cost(backend, at_server):
    result = backend.send("Your clinic visit is on Monday.", [OK])
    outcome = result.outcomes[OK]
    assert outcome.state == "accepted" and outcome.status_code == 101 and outcome.reason == "Success"
    assert re.fullmatch(r"ATXid_[0-9a-f]{32}", outcome.provider_id)
    assert (outcome.cost_amount, outcome.cost_currency) == (Decimal("0.8000"), "KES")
    assert (result.account_refusal, result.retryable_error, result.insufficient_balance) == (None, None, False)
    [sent] = at_server.sent
    assert sent["number"] == OK and sent["messageId"] == outcome.provider_id
    assert sent["message"] == "Your clinic visit is on Monday."
    # Sender id and bulk mode go with every request; enqueue only when asked for.
    assert (sent["from"], sent["bulkSMSMode"], sent["enqueue"], sent["username"]) == ("CLINIC", "1", None, "sandbox")


def test_enqueue_is_passed_when_configured(at_url, at_server, api_key):
    AfricasTalkingBackend("sandbox", api_key, api_url=at_url, enqueue=True).send("hi", [OK])
    assert at_server.sent[0]["enqueue"] == "1" and at_server.sent[0]["from"] is None


def test_a_mixed_batch_is_classified_per_phone(backend, at_server):
    at_server.configure(statuses={INVALID_NUMBER: 403, UNSUPPORTED: 404, BALANCE: 405, BLACKLISTED: 406})
    result = backend.send("hello", [OK, INVALID_NUMBER, UNSUPPORTED, BALANCE, BLACKLISTED])
    states = {phone: (o.state, o.status_code) for phone, o in result.outcomes.items()}
    assert states == {OK: ("accepted", 101), INVALID_NUMBER: ("permanent", 403), UNSUPPORTED: ("permanent", 404),
                      BALANCE: ("retry", 405), BLACKLISTED: ("permanent", 406)}
    assert result.insufficient_balance and result.account_refusal is None and result.retryable_error is None
    refused = result.outcomes[BLACKLISTED]
    assert refused.provider_id is None and refused.reason == "UserInBlacklist"  # AT's "None", "0"
    assert refused.cost_amount == 0 and refused.cost_currency is None
    assert [r["number"] for r in at_server.sent] == [OK]


@pytest.mark.parametrize("code,state", [(100, "accepted"), (102, "accepted"), (407, "retry"), (409, "failed"),
                                        (500, "retry"), (501, "retry"), (502, "failed"), (999, "failed")])
def test_other_recipient_codes(backend, at_server, code, state):
    at_server.configure(statuses={"+2547": code})
    outcome = backend.send("hello", [OK]).outcomes[OK]
    assert (outcome.state, outcome.status_code) == (state, code)


@pytest.mark.parametrize("code,name", [(401, "RiskHold"), (402, "InvalidSenderId")])
def test_account_codes_per_recipient_refuse_the_account(backend, at_server, code, name):
    at_server.configure(statuses={OK: code})
    result = backend.send("hello", [OK, "+254799000001"])
    assert result.account_refusal == name
    assert result.outcomes[OK].state == "retry"
    assert result.outcomes["+254799000001"].state == "accepted"


def test_account_refusal_is_a_201_without_recipients(backend, at_server):
    at_server.configure(refusal="Your account is suspended, call us on 0700123456")
    result = backend.send("hello", [OK, "+254799000001"])
    assert result.account_refusal.startswith("Your account is suspended")
    assert "0700123456" not in result.account_refusal  # digit runs are masked
    assert result.retryable_error is None and result.http_status is None
    assert {o.state for o in result.outcomes.values()} == {"retry"}
    assert at_server.sent == []


def test_a_wrong_api_key_is_an_account_problem_not_a_retry(at_url, at_server):
    result = AfricasTalkingBackend("sandbox", "wrong-key", api_url=at_url).send("hello", [OK])
    assert result.http_status == 401
    assert result.account_refusal == "HTTP 401 from AT: The supplied authentication is invalid"
    assert result.retryable_error is None
    assert result.outcomes[OK].state == "retry"


def test_http_500_is_retryable_and_the_next_request_goes_through(backend, at_server):
    at_server.configure(fail_next=1)
    result = backend.send("hello", [OK])
    assert result.http_status == 500 and result.retryable_error.startswith("HTTP 500")
    assert result.account_refusal is None and result.outcomes[OK].state == "retry"
    assert backend.send("hello", [OK]).outcomes[OK].state == "accepted"


def test_a_reply_that_is_not_json_is_retryable(backend, at_server):
    at_server.configure(content_type="text/html", raw_body="<html><body>Gateway Timeout</body></html>")
    result = backend.send("hello", [OK])
    assert result.retryable_error.startswith("AT replied with something other than JSON")
    assert result.maybe_sent and result.outcomes[OK].state == "retry"


def test_json_under_another_content_type_is_still_read(backend, at_server):
    # The SDK returns a str for anything but exactly "application/json"; AT took
    # these messages, so resending them would send them twice.
    at_server.configure(content_type="application/json; charset=utf-8")
    result = backend.send("hello", [OK])
    assert result.retryable_error is None and result.outcomes[OK].state == "accepted"


def test_a_json_content_type_with_a_broken_body_is_retryable(backend, at_server):
    at_server.configure(raw_body="{not json", content_type="application/json")
    result = backend.send("hello", [OK])
    assert result.retryable_error == "AT's JSON reply could not be read" and result.maybe_sent


def test_a_reply_of_another_shape_is_retryable(backend, at_server):
    at_server.configure(raw_body='{"error": "what"}', content_type="application/json")
    assert backend.send("hello", [OK]).retryable_error == "AT's reply has no SMSMessageData"


def test_a_hanging_server_times_out_as_retryable(at_url, at_server, api_key):
    at_server.configure(hang=10)
    quick = AfricasTalkingBackend("sandbox", api_key, api_url=at_url, timeout=(1.0, 0.3))
    started = time.monotonic()
    result = quick.send("hello", [OK])
    assert time.monotonic() - started < 3
    assert result.retryable_error.startswith("ReadTimeout") and result.maybe_sent
    assert result.outcomes[OK].state == "retry"


def test_a_dropped_connection_is_retryable(backend, at_server):
    at_server.configure(drop_next=1)
    result = backend.send("hello", [OK])
    assert result.retryable_error.startswith("ConnectionError") and result.maybe_sent
    assert result.outcomes[OK].state == "retry" and at_server.sent == []
    assert backend.send("hello", [OK]).outcomes[OK].state == "accepted"


def test_a_refused_connection_is_retryable_and_nothing_was_sent(api_key):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = AfricasTalkingBackend("sandbox", api_key, api_url=f"http://127.0.0.1:{port}").send("hello", [OK])
    assert result.retryable_error.startswith("ConnectionError") and not result.maybe_sent


def test_an_unusable_api_url_is_a_configuration_problem(api_key):
    result = AfricasTalkingBackend("sandbox", api_key, api_url="127.0.0.1:8089").send("hello", [OK])
    assert result.account_refusal.startswith("AT_API_URL is not usable")


def test_a_malformed_number_is_permanent_and_the_rest_still_go(backend, at_server):
    result = backend.send("hello", [OK, "0712345678", "+25471234567x"])
    assert result.outcomes[OK].state == "accepted"
    for bad in ("0712345678", "+25471234567x"):
        assert result.outcomes[bad].state == "permanent" and result.outcomes[bad].status_code is None
        assert result.outcomes[bad].reason.startswith("InvalidPhoneNumber")
    assert [r["number"] for r in at_server.sent] == [OK]


def test_only_malformed_numbers_make_no_request(backend, at_server):
    result = backend.send("hello", ["12345"])
    assert result.outcomes["12345"].state == "permanent" and at_server.requests == 0


def test_no_phones_make_no_request(backend, at_server):
    assert backend.send("hello", []).outcomes == {} and at_server.requests == 0


def test_more_than_the_cap_is_refused_before_anything_is_sent(backend, at_server):
    with pytest.raises(ValueError, match="limit is 10"):
        backend.send("hello", [f"+2547123450{i:02d}" for i in range(11)])
    assert at_server.requests == 0


def test_a_phone_listed_twice_is_sent_once(backend, at_server):
    result = backend.send("hello", [OK, OK])
    assert list(result.outcomes) == [OK] and len(at_server.sent) == 1


def test_a_long_text_costs_per_page(backend):
    outcome = backend.send("x" * 200, [OK]).outcomes[OK]
    assert outcome.cost_amount == Decimal("1.6000")


def test_outbox_accepts_every_valid_phone_and_sends_nothing():
    outbox = OutboxBackend(max_recipients=3)
    result = outbox.send("hello", [OK, "+27821234567", "0821234567"])
    accepted = result.by_state("accepted")
    assert [o.phone for o in accepted] == [OK, "+27821234567"]
    assert all(re.fullmatch(r"outbox-[0-9a-f]{32}", o.provider_id) for o in accepted)
    assert accepted[0].provider_id != accepted[1].provider_id
    assert all(o.cost_amount is None and o.cost_currency is None and o.status_code is None for o in accepted)
    assert result.outcomes["0821234567"].state == "permanent"
    assert (result.account_refusal, result.retryable_error, result.insufficient_balance) == (None, None, False)
    with pytest.raises(ValueError):
        outbox.send("hello", [OK] * 4)


def _settings(tmp_path: Path, **changes) -> Settings:
    return Settings(instance_path=tmp_path, database_url="sqlite://", redis_url=None, secret_key="x", **changes)


def test_get_backend_follows_sms_backend(tmp_path, at_url, at_server, api_key):
    outbox = get_backend(_settings(tmp_path, at_max_recipients=7))
    assert isinstance(outbox, OutboxBackend) and outbox.max_recipients == 7
    at = get_backend(_settings(tmp_path, sms_backend="africastalking", at_username="sandbox", at_api_key=api_key,
                               at_api_url=at_url, at_sender_id="CLINIC", at_max_recipients=5))
    assert isinstance(at, AfricasTalkingBackend) and at.max_recipients == 5
    assert at.service.messaging_url == f"{at_url}/version1/messaging"
    assert at.send("hello", [OK]).outcomes[OK].state == "accepted"
    assert at_server.sent[0]["from"] == "CLINIC"
    with pytest.raises(ValueError):
        get_backend(_settings(tmp_path, sms_backend="africastalking"))
