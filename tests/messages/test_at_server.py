"""The fake AT itself: wire format, control API, records, delivery reports, the command line."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from devtools.at_server import create_app, serve_in_thread
from gateway.messages.backends import AfricasTalkingBackend

ROOT = Path(__file__).resolve().parents[2]
OK = "+254712345678"


def _post(at_url, key, **form):
    data = {"username": "sandbox", "to": OK, "message": "hello", **form}
    return requests.post(f"{at_url}/version1/messaging", data=data, headers={"apiKey": key}, timeout=5)


def test_the_reply_is_ats_wire_format(at_url, api_key):
    reply = _post(at_url, api_key, to=f"{OK},+254799000001,12345")
    assert reply.status_code == 201
    assert reply.headers["Content-Type"] == "application/json"  # exactly: the SDK parses nothing else
    data = reply.json()["SMSMessageData"]
    assert data["Message"] == "Sent to 2/3 Total Cost: KES 1.6000"
    first, _, bad = data["Recipients"]
    assert first["statusCode"] == 101 and first["status"] == "Success" and first["cost"] == "KES 0.8000"
    assert first["number"] == OK and first["messageId"].startswith("ATXid_")
    assert bad == {"statusCode": 403, "number": "12345", "status": "InvalidPhoneNumber", "cost": "0",
                   "messageId": "None"}


def test_a_wrong_key_gets_401_plain_text(at_url):
    reply = _post(at_url, "nope")
    assert reply.status_code == 401 and reply.headers["Content-Type"].startswith("text/plain")
    assert reply.text == "The supplied authentication is invalid"


def test_a_username_can_be_required(at_url, at_server, api_key):
    at_server.configure(username="clinicnet")
    assert _post(at_url, api_key).status_code == 401
    assert _post(at_url, api_key, username="clinicnet").status_code == 201


def test_missing_fields_get_400(at_url, api_key):
    assert _post(at_url, api_key, to="").status_code == 400


def test_the_control_api_changes_behaviour_at_runtime(at_url, api_key):
    reply = requests.post(f"{at_url}/_control", json={"statuses": {"+2547123": 406}, "fail_next": 1}, timeout=5)
    assert reply.json()["options"]["statuses"] == {"+2547123": 406}
    assert _post(at_url, api_key).status_code == 500
    assert _post(at_url, api_key).json()["SMSMessageData"]["Recipients"][0]["statusCode"] == 406
    assert requests.post(f"{at_url}/_control", json={"nonsense": 1}, timeout=5).status_code == 400
    requests.post(f"{at_url}/_control", json={"reset": True}, timeout=5)
    assert requests.get(f"{at_url}/_control", timeout=5).json()["options"]["statuses"] == {}
    assert _post(at_url, api_key).json()["SMSMessageData"]["Recipients"][0]["statusCode"] == 101


def test_sent_messages_are_recorded_and_duplicates_counted(at_url, at_server, api_key):
    for _ in range(2):
        _post(at_url, api_key, message="same")
    _post(at_url, api_key, message="other")
    body = requests.get(f"{at_url}/_sent", timeout=5).json()
    assert body["requests"] == 3 and body["count"] == 3
    assert body["duplicates"] == [{"number": OK, "message": "same", "count": 2}]
    assert at_server.duplicates() == {(OK, "same"): 2}
    assert "messages" not in requests.get(f"{at_url}/_sent?messages=0", timeout=5).json()
    assert requests.get(f"{at_url}/_sent?number=+254700000000", timeout=5).json()["messages"] == []
    assert requests.delete(f"{at_url}/_sent", timeout=5).status_code == 204
    assert requests.get(f"{at_url}/_sent", timeout=5).json()["count"] == 0


def test_a_dropped_connection_gets_no_reply(at_url, at_server, api_key):
    at_server.configure(drop_next=1)
    with pytest.raises(requests.ConnectionError):
        _post(at_url, api_key)
    assert _post(at_url, api_key).status_code == 201


def test_latency_delays_the_reply(at_url, at_server, api_key):
    at_server.configure(latency=0.3)
    started = time.monotonic()
    assert _post(at_url, api_key).status_code == 201
    assert time.monotonic() - started >= 0.3


def test_delivery_reports_are_posted_back(at_url, at_server, api_key, receiver):
    at_server.configure(delivery_url=receiver.url, delivery_statuses={"+254799": "Failed:UserInBlackList"})
    backend = AfricasTalkingBackend("sandbox", api_key, api_url=at_url)
    result = backend.send("hello", [OK, "+254799000001"])
    reports = {r["phoneNumber"]: r for r in receiver.wait_for(2)}
    assert reports[OK] == {"id": result.outcomes[OK].provider_id, "status": "Success", "phoneNumber": OK,
                           "networkCode": "99999", "retryCount": "0"}
    failed = reports["+254799000001"]
    assert failed["status"] == "Failed" and failed["failureReason"] == "UserInBlackList"
    assert at_server.wait_for_deliveries(2)
    assert {d["http_status"] for d in requests.get(f"{at_url}/_deliveries", timeout=5).json()["deliveries"]} == {200}


def test_delivery_reports_can_be_late_duplicated_and_out_of_order(at_url, at_server, api_key, receiver):
    at_server.configure(delivery_url=receiver.url, delivery_delay=0.2, delivery_duplicates=1,
                        delivery_interim=["Submitted"], delivery_out_of_order=True)
    started = time.monotonic()
    _post(at_url, api_key)
    reports = receiver.wait_for(4)
    assert time.monotonic() - started >= 0.2
    assert [r["status"] for r in reports] == ["Success", "Success", "Submitted", "Submitted"]


def test_one_report_can_be_asked_for(at_url, at_server, api_key, receiver):
    at_server.configure(delivery_url=receiver.url, delivery_statuses={"+": "Buffered"})
    message_id = _post(at_url, api_key).json()["SMSMessageData"]["Recipients"][0]["messageId"]
    receiver.wait_for(1)
    reply = requests.post(f"{at_url}/_deliver", json={"id": message_id, "status": "Rejected",
                                                      "failureReason": "DeliveryFailure"}, timeout=5)
    assert reply.status_code == 202
    assert [r["status"] for r in receiver.wait_for(2)] == ["Buffered", "Rejected"]
    unknown = requests.post(f"{at_url}/_deliver", json={"id": "ATXid_x", "status": "Success"}, timeout=5)
    assert unknown.status_code == 404


def test_options_are_checked():
    with pytest.raises(ValueError, match="unknown option"):
        create_app(colour="blue")
    with pytest.raises(ValueError, match="statuses"):
        create_app(statuses={"+254": "four hundred"})


def test_stop_releases_a_hanging_request(api_key):
    app = create_app(api_key=api_key, hang=60)
    base_url, stop = serve_in_thread(app)
    backend = AfricasTalkingBackend("sandbox", api_key, api_url=base_url, timeout=(1, 0.2))
    assert backend.send("hello", [OK]).retryable_error
    started = time.monotonic()
    stop()
    assert time.monotonic() - started < 2


def test_it_runs_from_the_command_line(api_key):
    process = subprocess.Popen([sys.executable, "-m", "devtools.at_server", "--port", "0", "--api-key", api_key],
                               cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline()
        base_url = line.split(" on ", 1)[1].split()[0]
        backend = AfricasTalkingBackend("sandbox", api_key, api_url=base_url)
        assert backend.send("hello", [OK]).outcomes[OK].state == "accepted"
    finally:
        process.terminate()
        process.wait(timeout=5)
