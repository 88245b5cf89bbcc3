"""A NUL (or another control character) in any input is a clean 4xx, never a 500, and no log line holds a number.

On PostgreSQL a NUL in a text parameter fails the driver; the 500's traceback
quoted the statement's parameters, the caller's number and her SMS text among
them. Each input is refused at its edge: AT's callbacks (one check in the form
parser), the JSON API (one in its body and query-string readers), the console
(one request hook).
"""
from __future__ import annotations

import logging
import re

import pytest

PHONE = "+27821234567"
FULL_NUMBERS = re.compile(r"\+?27\d{9}|0\d{9}")


@pytest.fixture
def logs(caplog):
    caplog.set_level(logging.DEBUG)
    return caplog


def _no_number_in(caplog):
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert not FULL_NUMBERS.search(text), text


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("url, body, field", [
    ("/sms/inbound", f"from={PHONE}&id=ATX1&text=hello%00world", "text"),
    ("/sms/inbound", f"from={PHONE}&id=AT%00X1&text=hello", "id"),
    ("/sms/delivery", "id=AT%00X1&status=Success", "id"),
    ("/ussd/events", f"sessionId=S1&phoneNumber={PHONE}&status=Success&errorMessage=x%00y", "errorMessage"),
    ("/ussd/events", f"sessionId=S%001&phoneNumber={PHONE}&status=Success", "sessionId"),
    ("/ussd/events", f"sessionId=S1&phoneNumber={PHONE}&status=Succ%00ess", "status"),
])
def test_callbacks_refuse_a_nul_with_a_400_naming_the_field(client, logs, url, body, field):
    response = client.post(url, data=body, headers=FORM)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_data(as_text=True) == f"{field}: must not contain control characters\n"
    _no_number_in(logs)


@pytest.mark.parametrize("body", [f"sessionId=S1&phoneNumber={PHONE}&serviceCode=*1%002%23&text=",
                                  f"sessionId=S1&phoneNumber={PHONE}&networkCode=6%0001&text=",
                                  f"sessionId=S%001&phoneNumber={PHONE}&text="])
def test_ussd_answers_a_nul_with_an_end_screen(client, app, logs, body):
    """A screen, not an error status: AT would end her session with its own words. Nothing is kept."""
    from gateway.adapters.redis_store import get_redis

    response = client.post("/ussd", data=body, headers=FORM)
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "END Sorry, that did not work. Please try again later."
    assert get_redis().dbsize() == 0
    _no_number_in(logs)


def test_a_nul_typed_in_a_ussd_answer_is_a_wrong_answer_asked_again(client, logs):
    """What she types goes to the menus, which refuse a wrong answer and ask again (the session goes on)."""
    first = client.post("/ussd", data=f"sessionId=S2&phoneNumber={PHONE}&text=", headers=FORM)
    assert first.status_code == 200 and first.get_data(as_text=True).startswith("CON ")
    again = client.post("/ussd", data=f"sessionId=S2&phoneNumber={PHONE}&text=1%00", headers=FORM)
    assert again.status_code == 200, again.get_data(as_text=True)
    assert again.get_data(as_text=True).startswith("CON ")
    _no_number_in(logs)


def test_a_line_break_in_an_sms_is_still_text(client):
    response = client.post("/sms/inbound", data=f"from={PHONE}&id=ATX2&text=line%0Aother", headers=FORM)
    assert response.status_code == 200


def test_api_refuses_a_nul_in_the_body_with_a_422_naming_the_field(client, admin_headers, logs):
    response = client.post("/api/v1/clients", headers=admin_headers,
                           json={"phone": PHONE, "name": "Zodwa\u0000", "country": "ZA"})
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"name": "must not contain control characters"}
    nested = client.post("/api/v1/clients", headers=admin_headers,
                         json={"phone": PHONE, "infants": [{"name": "B\u0001", "date_of_birth": "2025-01-01"}]})
    assert nested.status_code == 422
    assert nested.get_json()["fields"] == {"infants.0.name": "must not contain control characters"}
    _no_number_in(logs)


def test_api_refuses_a_nul_in_the_query_string(client, admin_headers, logs):
    response = client.get(f"/api/v1/clients?phone={PHONE}%00", headers=admin_headers)
    assert response.status_code == 422
    assert response.get_json()["fields"] == {"phone": "must not contain control characters"}
    _no_number_in(logs)


def test_api_asks_for_a_token_before_reading_the_query(client):
    assert client.get(f"/api/v1/clients?phone={PHONE}%00").status_code == 401


@pytest.mark.parametrize("url", ["/console/clients?q=Zod%00wa", "/console/clients?q=%2B2782123%00",
                                 "/console/messages?status=%00", "/console/messages?reason=x%00",
                                 "/console/audit?actor=%00"])
def test_console_query_strings_refuse_a_nul_with_a_400(as_role, logs, url):
    admin = as_role("admin")
    response = admin.get(url)
    assert response.status_code == 400
    assert "holds a control character" in response.get_data(as_text=True)
    _no_number_in(logs)


def test_console_sign_in_refuses_a_nul_in_the_email(web, people, logs):
    response = web.login("admin@example.org\u0000")
    assert response.status_code == 400
    assert "email" in response.get_data(as_text=True)
    _no_number_in(logs)


def test_console_forms_refuse_a_nul(as_role, sites, logs):
    nurse = as_role("nurse")
    response = nurse.post("/console/enrol", {"phone": PHONE, "name": "Zodwa\u0000"})
    assert response.status_code == 400
    _no_number_in(logs)


def test_a_failed_statement_and_its_traceback_name_no_number(app, logs):
    """The last guard: a statement that fails anyway logs neither its parameters nor a full number."""
    import sqlalchemy as sa

    from gateway.adapters.database import db

    try:
        db.session.execute(sa.text("SELECT no_such_column FROM clients WHERE phone = :phone"), {"phone": PHONE})
    except sa.exc.DBAPIError:
        logging.getLogger("gateway.test").exception("lookup of %s failed", PHONE)
    db.session.rollback()
    assert "lookup of +278******67 failed" in logs.text
    assert "parameters hidden" in logs.text or "[SQL" in logs.text
    _no_number_in(logs)
