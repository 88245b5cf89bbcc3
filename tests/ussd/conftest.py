"""A handset behind Africa's Talking: sessions played through ``POST /ussd`` exactly as AT sends them.

``AtSession.send(answer)`` posts AT's form fields with the cumulative
``text`` (every answer so far joined by ``*``) and returns the body, after
checking what every reply must be: 200, text/plain, ``CON ``/``END `` and
within the network's limit. The clock is frozen on a Tuesday morning so
dates on screens are exact.
"""
from __future__ import annotations

import datetime as dt
import secrets

import pytest
from sqlalchemy import func, select

from gateway import appointments, users
from gateway.core import clock
from gateway.clients import enrolment
from gateway.adapters.database import db
from gateway.core.models import AuditEntry, Client, Site, Task

NOW = dt.datetime(2025, 11, 25, 8, 0)  # UTC; 10:00 in Johannesburg, 11:00 in Nairobi; a Tuesday
TODAY = NOW.date()
CLIENT_PHONE = "+27821234567"
OTHER_PHONE = "+27831234567"
UNKNOWN_PHONE = "+27841234567"
COORDINATOR_PHONE = "+27721234567"
KENYA_PHONE = "+254712345678"


@pytest.fixture(autouse=True)
def frozen_clock(app):
    with clock.frozen(NOW):
        yield NOW


class AtSession:
    """One USSD session as AT plays it: ``dial()`` then ``send(answer)``; each returns the reply body."""

    def __init__(self, http, phone: str, network: str = "99999", session_id: str | None = None,
                 limit: int = 160, query: str = ""):
        self.http, self.phone, self.network, self.limit, self.query = http, phone, network, limit, query
        self.session_id = session_id or "ATUid_" + secrets.token_hex(16)
        self.answers: list[str] = []
        self.screens: list[str] = []

    @property
    def text(self) -> str:
        return "*".join(self.answers)

    def post(self, text: str, **extra) -> str:
        form = {"sessionId": self.session_id, "serviceCode": "*384*123#", "phoneNumber": self.phone,
                "networkCode": self.network, "text": text, **extra}
        response = self.http.post("/ussd" + self.query, data=form)
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "text/plain"
        body = response.get_data(as_text=True)
        assert body.startswith(("CON ", "END ")) and len(body) > 4, body
        assert len(body) <= self.limit, (len(body), body)
        self.screens.append(body)
        return body

    def dial(self) -> str:
        return self.post("")

    def send(self, answer: str) -> str:
        self.answers.append(answer)
        return self.post(self.text)

    def play(self, *answers: str) -> str:
        """Dial (if not yet) and send each answer; the last screen."""
        screen = self.dial() if not self.screens else self.screens[-1]
        for answer in answers:
            screen = self.send(answer)
        return screen

    def repeat(self) -> str:
        """AT's retry of the last request: the same text again."""
        return self.post(self.text)


@pytest.fixture
def at(client):
    """``at(phone, network=..., session_id=..., limit=...)``: a new USSD session through the endpoint."""
    def start(phone: str, **kwargs) -> AtSession:
        return AtSession(client, phone, **kwargs)
    return start


def site(name: str = "Khayelitsha", country: str = "ZA", timezone: str = "Africa/Johannesburg") -> Site:
    row = db.session.scalar(select(Site).where(Site.name == name))
    if row is None:
        row = Site(name=name, country=country, timezone=timezone)
        db.session.add(row)
        db.session.flush()
    return row


@pytest.fixture
def make_client(app):
    """Enrol a client through the one enrolment path (``body`` as the JSON API takes it) and plan her visits."""
    def make(phone: str = CLIENT_PHONE, site_name: str | None = "Khayelitsha", pin: str | None = None,
             **body) -> Client:
        body = {"phone": phone, "country": "ZA", "consent": True, **body}
        if site_name:
            body["site_id"] = site(site_name).id
        data = enrolment.parse_enrolment(body, "ZA")
        row = enrolment.enrol(data, "test")
        if pin:
            from werkzeug.security import generate_password_hash

            row.ussd_pin_hash = generate_password_hash(pin, method="pbkdf2:sha256:1000")
        appointments.refresh(row)
        db.session.commit()
        return row
    return make


@pytest.fixture
def make_coordinator(app):
    """A coordinator with a phone and a USSD PIN at the named sites."""
    def make(phone: str = COORDINATOR_PHONE, sites=("Khayelitsha",), pin: str | None = "2468",
             role: str = "coordinator") -> users.User:
        ids = [site(name).id for name in sites]
        user = users.create_user(f"mm-{secrets.token_hex(3)}@example.org", role, None, "test", phone=phone,
                                 pin=pin, site_ids=ids)
        db.session.commit()
        return user
    return make


def count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def audit_actions(*actions: str) -> list[str]:
    return list(db.session.scalars(select(AuditEntry.action).where(AuditEntry.action.in_(actions))
                                   .order_by(AuditEntry.id)))


def fresh(row):
    """``row`` as the database has it now (another request changed it)."""
    db.session.expire_all()
    return db.session.get(type(row), row.id)


__all__ = ["NOW", "TODAY", "AtSession", "site", "count", "audit_actions", "fresh", "Task"]
