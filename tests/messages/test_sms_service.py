"""The SDK subclass: where requests go, and the HTTP status the SDK would drop."""
from __future__ import annotations

import logging

import pytest

from gateway.messages.backends import AfricasTalkingBackend
from gateway.adapters.africastalking import AfricasTalkingException, ATHTTPError, ATSMSService


def test_api_url_decides_where_sms_go(at_url, at_server, api_key):
    service = ATSMSService("sandbox", api_key, at_url)
    assert service.messaging_url == f"{at_url}/version1/messaging"
    reply = service.send("hello", ["+254712345678"])
    assert reply["SMSMessageData"]["Recipients"][0]["statusCode"] == 101
    assert at_server.requests == 1


def test_a_trailing_slash_on_api_url_is_ignored():
    assert ATSMSService("x", "k", "http://127.0.0.1:9/").messaging_url == "http://127.0.0.1:9/version1/messaging"


# The SDK's own hosts are only computed here, never contacted.
@pytest.mark.parametrize("username,url", [
    ("sandbox", "https://api.sandbox.africastalking.com/version1/messaging"),
    ("clinicnet", "https://api.africastalking.com/version1/messaging"),
])
def test_without_api_url_the_sdk_chooses_the_host_for_the_username(username, url):
    assert ATSMSService(username, "k").messaging_url == url
    assert ATSMSService(username, "k", None).messaging_url == url
    assert ATSMSService(username, "k", "").messaging_url == url


def test_the_api_key_never_shows():
    service = ATSMSService("sandbox", "s3cr3t-key")
    backend = AfricasTalkingBackend("sandbox", "s3cr3t-key")
    assert "s3cr3t" not in repr(service) and "s3cr3t" not in repr(backend)


@pytest.mark.parametrize("key,options,status", [("wrong-key", {}, 401), (None, {"fail_next": 1}, 500)])
def test_non_2xx_replies_keep_their_http_status(at_url, at_server, api_key, key, options, status):
    # Guards the hook in africastalking.py: if an SDK release stops calling it, this fails.
    at_server.configure(**options)
    with pytest.raises(ATHTTPError) as raised:
        ATSMSService("sandbox", key or api_key, at_url).send("hello", ["+254712345678"])
    assert raised.value.status == status
    assert isinstance(raised.value, AfricasTalkingException)  # what the SDK itself would raise


def test_logs_mask_phones_and_never_show_the_key(at_url, at_server, api_key, caplog):
    at_server.configure(statuses={"+254700": 406})
    backend = AfricasTalkingBackend("sandbox", api_key, api_url=at_url, timeout=(1, 1))
    with caplog.at_level(logging.DEBUG):
        backend.send("hello", ["+254712345678", "+254700012345"])
        AfricasTalkingBackend("sandbox", "wrong-key", api_url=at_url).send("hello", ["+254712345678"])
    assert "+254700012345" not in caplog.text and "+254712345678" not in caplog.text
    assert "+254*******45" in caplog.text
    assert api_key not in caplog.text and "wrong-key" not in caplog.text
