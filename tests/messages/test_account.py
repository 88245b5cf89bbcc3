"""Checking the AT account: the real SDK's application service against the fake AT, over HTTP."""
from __future__ import annotations

from decimal import Decimal

import pytest
import requests

from gateway.messages.account import check_account
from gateway.adapters.africastalking import ATApplicationService

TIMEOUT = (1.0, 1.0)  # (connect, read) seconds: a loaded CI machine still answers


def test_good_credentials_get_the_balance(at_url, api_key):
    check = check_account("sandbox", api_key, at_url, timeout=TIMEOUT)
    assert check.works and check.verdict == "works"
    assert (check.balance, check.amount, check.currency) == ("KES 1234.00", Decimal("1234.00"), "KES")
    assert check.url == f"{at_url}/version1/user" and check.problem is None


def test_the_balance_falls_by_what_was_sent(at_url, at_server, backend, api_key):
    at_server.configure(balance="10", cost="0.8")
    backend.send("hello", ["+254712345678", "+254712345679"])
    assert check_account("sandbox", api_key, at_url, timeout=TIMEOUT).balance == "KES 8.40"


def test_a_wrong_key_is_refused(at_url):
    check = check_account("sandbox", "not-the-key", at_url, timeout=TIMEOUT)
    assert check.verdict == "refused" and not check.works and check.http_status == 401
    assert "The supplied authentication is invalid" in check.problem
    assert check.balance is None


def test_an_unknown_username_is_refused_as_at_does(at_url, at_server, api_key):
    at_server.configure(username="clinicnet")
    check = check_account("clinicnet-typo", api_key, at_url, timeout=TIMEOUT)
    assert check.verdict == "refused" and check.http_status == 401
    assert check_account("clinicnet", api_key, at_url, timeout=TIMEOUT).works


def test_nobody_listening_is_unreachable(closed_url):
    check = check_account("sandbox", "k", closed_url, timeout=TIMEOUT)
    assert check.verdict == "unreachable" and check.http_status is None
    assert closed_url in check.problem and "ConnectionError" in check.problem


def test_no_answer_in_time_is_unreachable(at_url, at_server, api_key):
    at_server.configure(hang=3)
    check = check_account("sandbox", api_key, at_url, timeout=(1.0, 0.3))
    assert check.verdict == "unreachable" and "did not answer in time" in check.problem


def test_a_bad_api_url_is_named(api_key):
    check = check_account("sandbox", api_key, "127.0.0.1:9", timeout=TIMEOUT)
    assert check.verdict == "unreachable" and "AT_API_URL" in check.problem


@pytest.mark.parametrize("options,problem", [
    ({"fail_next": 1}, "AT's side failed (HTTP 500"),
    ({"raw_body": "<html>proxy</html>", "content_type": "text/html"}, "not AT's account data"),
])
def test_other_answers_are_errors_that_say_what_came(at_url, at_server, api_key, options, problem):
    at_server.configure(**options)
    check = check_account("sandbox", api_key, at_url, timeout=TIMEOUT)
    assert check.verdict == "error" and problem in check.problem


def test_at_json_under_another_content_type_is_read(at_url, at_server, api_key):
    at_server.configure(content_type="application/json; charset=utf-8")
    assert check_account("sandbox", api_key, at_url, timeout=TIMEOUT).balance == "KES 1234.00"


def test_the_fake_speaks_ats_application_endpoint(at_url, api_key):
    # What the SDK asks (GET /version1/user?username=, apiKey and Accept headers) and what AT answers.
    reply = requests.get(f"{at_url}/version1/user", params={"username": "sandbox"},
                         headers={"apiKey": api_key, "Accept": "application/json"}, timeout=5)
    assert reply.status_code == 200 and reply.headers["Content-Type"] == "application/json"
    assert reply.json() == {"UserData": {"balance": "KES 1234.00"}}
    wrong = requests.get(f"{at_url}/version1/user", params={"username": "sandbox"}, headers={"apiKey": "x"},
                         timeout=5)
    assert (wrong.status_code, wrong.text) == (401, "The supplied authentication is invalid")
    assert requests.get(f"{at_url}/version1/user", headers={"apiKey": api_key}, timeout=5).status_code == 400


def test_the_sdk_host_is_chosen_for_the_username_without_api_url():
    # Computed only, never contacted.
    assert ATApplicationService("sandbox", "k").user_url == "https://api.sandbox.africastalking.com/version1/user"
    assert ATApplicationService("clinicnet", "k").user_url == "https://api.africastalking.com/version1/user"
    assert "s3cr3t" not in repr(ATApplicationService("sandbox", "s3cr3t"))
