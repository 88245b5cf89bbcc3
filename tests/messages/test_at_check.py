"""``flask --app wsgi at check``: the real SDK against the fake AT, and the callback URLs it prints."""
from __future__ import annotations

from decimal import Decimal

import pytest

from gateway.core.config import ConfigError, Settings, public_url
from gateway.interfaces.callbacks.urls import address_problems

PATHS = ("/ussd", "/ussd/events", "/sms/inbound", "/sms/delivery")


@pytest.fixture
def check(app, runner, settings, monkeypatch):
    """Run `at check` with these settings (on top of the test settings); returns the click result."""

    def run(*args, **changes):
        monkeypatch.setitem(app.config, "SETTINGS", settings.replace(**changes))
        return runner.invoke(args=["at", "check", *args])

    return run


@pytest.fixture
def wired(at_url, api_key):
    """Settings of a gateway pointed at the fake AT with good credentials."""
    return {"at_username": "sandbox", "at_api_key": api_key, "at_api_url": at_url, "sms_backend": "africastalking"}


def test_good_credentials_print_the_balance_and_exit_0(check, wired, at_url):
    result = check(**wired, at_sender_id="CLINIC")
    assert result.exit_code == 0, result.output
    assert f"asked at {at_url}/version1/user" in result.output
    assert "The username and API key work. Balance: KES 1234.00." in result.output
    assert "Sender id: CLINIC (AT_SENDER_ID)" in result.output
    assert "USSD service code: *384*123# (USSD_SERVICE_CODE); it must be the code AT assigned" in result.output
    assert "AT's sandbox" in result.output
    assert wired["at_api_key"] not in result.output  # the key is never shown


def test_a_wrong_key_says_so_and_exits_1(check, wired):
    result = check(**{**wired, "at_api_key": "not-the-key"})
    assert result.exit_code == 1
    assert "do NOT work: AT refused this username and API key (HTTP 401: The supplied authentication is invalid)" \
        in result.output
    assert "a sandbox key goes with AT_USERNAME=sandbox" in result.output
    assert "not-the-key" not in result.output


def test_a_wrong_username_says_so_and_exits_1(check, wired, at_server):
    at_server.configure(username="clinicnet")
    result = check(**{**wired, "at_username": "clinicnett"})
    assert result.exit_code == 1 and "AT refused this username and API key (HTTP 401" in result.output
    assert "username clinicnett" in result.output


def test_an_unreachable_at_says_where_it_asked_and_exits_1(check, wired, closed_url):
    result = check(**{**wired, "at_api_url": closed_url})
    assert result.exit_code == 1
    assert f"do NOT work: no answer from {closed_url}/version1/user" in result.output
    assert "Check this machine's network, and AT_API_URL" in result.output
    # The callbacks are printed all the same.
    assert "/sms/delivery" in result.output


def test_no_credentials_exit_1_and_still_list_the_callbacks(check):
    result = check(at_username=None, at_api_key=None, sms_backend="outbox")
    assert result.exit_code == 1
    assert "AT_USERNAME and AT_API_KEY are not set" in result.output
    assert "No sender id (AT_SENDER_ID unset)" in result.output
    assert all(f"{path}\n" in result.output for path in PATHS)


def test_public_url_option_gives_the_four_urls_with_the_token(check, wired):
    result = check("--public-url", "https://gw.example.org/", **wired, callback_token="tok/en 1",
                   public_url="https://other.example.org")
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    # The option wins over PUBLIC_URL; the token is URL-encoded so the gateway reads it back exactly.
    assert [line for line in lines if line.startswith("https://")] == [
        f"https://gw.example.org{path}?token=tok%2Fen%201" for path in PATHS]
    assert "USSD end-of-session notification" in result.output and "Note:" not in result.output


def test_public_url_setting_without_a_token(check, wired):
    result = check(**wired, public_url="https://gw.example.org/reminders", callback_token=None)
    urls = [line.strip() for line in result.output.splitlines() if line.strip().startswith("https://")]
    assert urls == [f"https://gw.example.org/reminders{path}" for path in PATHS]
    assert "CALLBACK_TOKEN is unset" in result.output


def test_without_a_public_url_it_says_one_is_needed(check, wired):
    result = check(**wired, public_url=None, callback_token="abc")
    assert result.exit_code == 0
    assert "No public address: give --public-url https://... or set PUBLIC_URL" in result.output
    assert "public HTTPS base address" in result.output
    assert "USSD callback (the service code's callback URL): /ussd?token=abc" in result.output


def test_a_local_or_plain_http_address_gets_a_note(check, wired):
    result = check("--public-url", "http://127.0.0.1:5000", **wired)
    assert "Note: it is not HTTPS" in result.output
    assert "Note: 127.0.0.1 is not reachable from the internet" in result.output


def test_a_bad_public_url_is_refused_before_asking_at(check, wired, at_server):
    result = check("--public-url", "gw.example.org", **wired)
    assert result.exit_code == 2 and "--public-url must be an address such as https://" in result.output
    assert at_server.requests == 0 and "Balance" not in result.output


@pytest.mark.parametrize("raw,expected", [
    ("https://gw.example.org/", "https://gw.example.org"),
    ("  https://gw.example.org:8443/base/ ", "https://gw.example.org:8443/base"),
    ("", None),
])
def test_public_url_is_read_from_the_environment(tmp_path, raw, expected):
    assert Settings.from_env(tmp_path, {"PUBLIC_URL": raw}).public_url == expected


@pytest.mark.parametrize("raw", ["gw.example.org", "ftp://gw.example.org", "https://", "https://gw.example.org/?a=1",
                                 "https://gw.example.org/#x", "https://gw.example.org:port"])
def test_a_bad_public_url_names_the_variable(tmp_path, raw):
    with pytest.raises(ConfigError, match="PUBLIC_URL"):
        Settings.from_env(tmp_path, {"PUBLIC_URL": raw})


@pytest.mark.parametrize("url,problems", [
    ("https://gw.example.org", 0), ("https://8.8.8.8", 0), ("http://gw.example.org", 1),
    ("https://localhost:5000", 1), ("https://10.1.2.3", 1), ("https://[::1]", 1), ("http://192.168.1.5", 2),
])
def test_address_problems(url, problems):
    assert len(address_problems(public_url(url))) == problems


def test_an_empty_balance_and_the_outbox_are_pointed_out(check, wired, at_server):
    at_server.configure(balance="0")
    result = check(**{**wired, "sms_backend": "outbox"})
    assert result.exit_code == 0  # the credentials work
    assert "Balance: KES 0.00." in result.output and "The balance is empty" in result.output
    assert "SMS_BACKEND=outbox: messages stay in the outbox" in result.output


def test_the_spend_cap_is_shown_in_the_accounts_currency(check, wired):
    assert "Daily SMS spend cap: 500 KES (SMS_DAILY_SPEND_CAP)." in check(**wired, sms_daily_spend_cap=Decimal(500)).output
    assert "No daily SMS spend cap" in check(**wired).output
