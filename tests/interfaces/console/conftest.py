"""Console fixtures: sites, people of each role, clients, and a signed-in HTTP session that sends CSRF tokens."""
from __future__ import annotations

import datetime as dt
import re

import pytest
from sqlalchemy import select

from gateway import appointments, users
from gateway.clients import enrolment
from gateway.clients.sites import local_today
from gateway.adapters.database import db
from gateway.core.models import Site

PASSWORD = "a long password"
_TOKEN = re.compile(rb'name="csrf-token" content="([^"]+)"')


class Session:
    """A browser-like session on Flask's test client: signs in, and posts forms with their CSRF token.

    Each request runs in an app context of its own, as in production: the
    ``app`` fixture's context would otherwise share ``g`` (Flask-Login's
    cached user, Flask-WTF's token) between requests and between sessions.
    After each request the test's own database session ends its transaction,
    so the test reads what the request wrote.
    """

    def __init__(self, client):
        self.http = client
        self._token = None

    def _send(self, method: str, url: str, **kwargs):
        with self.http.application.app_context():
            response = getattr(self.http, method)(url, **kwargs)
        db.session.commit()
        return response

    def token(self) -> str:
        if self._token is None:
            page = self.get("/console/login")
            if page.status_code == 302:
                page = self.get("/console/clients")
            self._token = _TOKEN.search(page.data).group(1).decode()
        return self._token

    def login(self, email: str, password: str = PASSWORD, url: str = "/console/login", **kwargs):
        self._token = None
        response = self.post(url, {"email": email, "password": password}, **kwargs)
        self._token = None  # signing in starts a fresh session, with a fresh token
        return response

    def get(self, url: str, **kwargs):
        return self._send("get", url, **kwargs)

    def post(self, url: str, data: dict | None = None, **kwargs):
        data = dict(data or {})
        data.setdefault("csrf_token", self.token())
        return self._send("post", url, data=data, **kwargs)

    def post_without_token(self, url: str, data: dict | None = None, **kwargs):
        return self._send("post", url, data=data or {}, **kwargs)

    def text(self, url: str) -> str:
        response = self.get(url)
        assert response.status_code == 200, (url, response.status_code)
        return response.get_data(as_text=True)


@pytest.fixture
def sites(app):
    """Two sites in two countries: (Khayelitsha in ZA, Kisumu in KE)."""
    za = Site(name="Khayelitsha CHC", country="ZA", timezone="Africa/Johannesburg")
    ke = Site(name="Kisumu Clinic", country="KE", timezone="Africa/Nairobi")
    db.session.add_all([za, ke])
    db.session.commit()
    return za, ke


@pytest.fixture
def people(app, sites):
    """An admin, a coordinator of the ZA site ("nurse") and one of the KE site ("other")."""
    za, ke = sites
    admin = users.create_user("admin@example.org", "admin", PASSWORD, "test", name="Ada Admin")
    nurse = users.create_user("nurse@example.org", "coordinator", PASSWORD, "test", name="Nomsa Nurse",
                              site_ids=[za.id])
    other = users.create_user("other@example.org", "coordinator", PASSWORD, "test", name="Otieno",
                              site_ids=[ke.id])
    db.session.commit()
    return {"admin": admin, "nurse": nurse, "other": other}


@pytest.fixture
def web(client):
    """A signed-out browser session."""
    return Session(client)


@pytest.fixture
def as_role(app, people):
    """``as_role("nurse")``: a new session signed in as that person."""
    def sign_in(who: str) -> Session:
        session = Session(app.test_client())
        response = session.login(people[who].email)
        assert response.status_code == 302, response.get_data(as_text=True)
        return session
    return sign_in


@pytest.fixture
def enrol(app):
    """Enrol a client through the service, with appointments: ``enrol(site, phone, name=..., art_days_ago=...)``.

    Without her welcome SMS unless ``welcome_sms=True``: the pages' tests count her other messages.
    """
    def make(site: Site | None, phone: str, name: str | None = None, *, art_days_ago: int | None = None,
             days_supply: int = 30, infant_days_old: int | None = None, country: str | None = None,
             welcome_sms: bool = False):
        country = country or (site.country if site else "ZA")
        today = local_today(country)
        body = {"phone": phone, "country": country, "name": name, "welcome_sms": welcome_sms}
        if site is not None:
            body["site_id"] = site.id
        if art_days_ago is not None:
            body["art"] = {"last_dispensed": (today - dt.timedelta(days=art_days_ago)).isoformat(),
                           "days_supply": days_supply}
        if infant_days_old is not None:
            body["infants"] = [{"date_of_birth": (today - dt.timedelta(days=infant_days_old)).isoformat(),
                                "name": "Baby"}]
        client = enrolment.enrol(enrolment.parse_enrolment({**body, "consent": True}, country), "test")
        appointments.refresh(client)
        db.session.commit()
        return client
    return make


def site_named(name: str) -> Site:
    return db.session.scalar(select(Site).where(Site.name == name))


HOSTILE_NAME = '<script>alert("x")</script><b>Zodwa</b>'
LONG_NAME = "Nomvula" + "Mthembu" * 12  # one unbroken 90-character word: must still fit 360 px


@pytest.fixture
def seeded(app, people, sites, enrol):
    """A site with everything a page can show: due and missed visits, every kind of SMS, tasks, an alert, an import."""
    from gateway.core import clock
    from gateway.interfaces.console import imports
    from gateway.clients.importer import ImportReport
    from sqlalchemy import update as sa_update

    from gateway.core.models import Alert, Message, Task

    za, ke = sites
    hostile = enrol(za, "082 123 4567", HOSTILE_NAME, art_days_ago=31, infant_days_old=70)  # pick-up missed
    long = enrol(za, "083 765 4321", LONG_NAME, art_days_ago=28)  # pick-up due in 2 days
    kenyan = enrol(ke, "0712 345 678", "Akinyi", art_days_ago=10)
    now = clock.utcnow()
    db.session.add_all([
        Message(client_id=hostile.id, direction="out", phone=hostile.phone, text="Reminder: <i>clinic</i> visit",
                status="delivered", backend="africastalking", sent_at=now, delivered_at=now, cost_amount=0.8,
                cost_currency="ZAR", attempts=1, provider_id="ATX-1"),
        Message(client_id=hostile.id, direction="out", phone=hostile.phone, text="We missed you at the clinic",
                status="failed", backend="africastalking", failure_reason="DeliveryFailure", attempts=1,
                sent_at=now, provider_id="ATX-2"),
        Message(client_id=hostile.id, direction="in", phone=hostile.phone, text="<img src=x onerror=alert(1)> call me",
                status="received", backend="africastalking", provider_id="in:1"),
        Message(client_id=long.id, direction="out", phone=long.phone, text="Reminder: pick up your medicine",
                status="queued", backend="outbox", attempts=0),
        Message(client_id=kenyan.id, direction="out", phone=kenyan.phone, text="Kenyan secret message",
                status="failed", backend="africastalking", failure_reason="RejectedByGateway", attempts=6),
    ])
    db.session.flush()
    inbound = db.session.scalar(select(Message).where(Message.provider_id == "in:1"))
    db.session.add_all([
        Task(kind="callback", client_id=hostile.id, site_id=za.id, phone=hostile.phone, status="open"),
        Task(kind="inbound_sms", client_id=hostile.id, site_id=za.id, phone=hostile.phone, status="open",
             details={"message_id": inbound.id}),
        Task(kind="enrolment_request", phone="+27829990000", status="open",
             details={"consent": "true", "consent_version": "ussd-consent-1"}),
        Task(kind="callback", client_id=kenyan.id, site_id=ke.id, phone=kenyan.phone, status="open"),
        Alert(kind="sending_paused", message="Africa's Talking refused sending: InsufficientBalance."),
    ])
    # A past broadcast to the site, with one copy delivered (the Broadcasts page's list).
    from gateway.messages import broadcasts

    sent = broadcasts.send(broadcasts.Request(text="The clinic is closed this Friday. Please come on Monday "
                                              "instead, or on Tuesday if Monday does not suit you.",
                                              audience="site", site_id=za.id, urgent=True),
                           broadcasts.Sender(people["nurse"].id, f"user:{people['nurse'].id}", frozenset({za.id})))
    db.session.flush()
    db.session.execute(sa_update(Message).where(Message.broadcast_id == sent.id, Message.client_id == hostile.id)
                       .values(status="delivered"))
    db.session.commit()
    report = ImportReport(rows=3, imported=2, refused=[{"line": 3, "reason": "phone: not a phone number"}],
                          refused_count=1)
    report_ids = {who: imports.save(people[who].id, "register.csv", za.name, report, "line,reason\n3,bad\n")
                  for who in ("admin", "nurse")}
    return {"hostile": hostile, "long": long, "kenyan": kenyan, "report_ids": report_ids}


@pytest.fixture
def page_urls(app, seeded, people):
    """``page_urls(who)``: every console page that role can open, with the seeded ids filled in."""
    return lambda who: _page_urls(app, seeded, people, who)


def _page_urls(app, seeded, people, who: str) -> list[str]:
    """Every console page a person in this role can open, with real ids filled in.

    Fails when the console gains a GET page this list does not fill, so a new page is never left unchecked.
    """
    ids = {"client_id": seeded["hostile"].id, "user_id": people["nurse"].id,
           "report_id": seeded["report_ids"][who], "lang": "zu", "code": "art_refills_due"}
    # not pages: a file, a CSV, a POST, a PO file
    skip = {"console.static", "console.import_refused", "console.logout", "console.translation_export",
            "console.programme_csv", "console.programme_list_csv"}  # CSV files too
    admin_only = {"console.users_list", "console.user_new", "console.user_edit", "console.sites",
                  "console.schedules", "console.audit_log", "console.ops", "console.translations_list",
                  "console.translation_language"}
    urls = []
    with app.test_request_context():
        from flask import url_for

        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("console.") or "GET" not in rule.methods or rule.endpoint in skip:
                continue
            if who != "admin" and rule.endpoint in admin_only:
                continue
            missing = set(rule.arguments) - set(ids)
            assert not missing, f"page_urls cannot fill {missing} for {rule.rule}: add an id for it"
            urls.append(url_for(rule.endpoint, **{k: ids[k] for k in rule.arguments}))
        urls.append(url_for("console.clients", q="082 123"))
        urls.append(url_for("console.messages", status="failed"))
        urls.append(url_for("web.index"))
    return sorted(set(urls))


@pytest.fixture
def live_server(app, settings):
    """The gateway served over real HTTP on 127.0.0.1 (werkzeug, threaded), on the test database and Redis."""
    from devtools.at_server import serve_in_thread
    from gateway import create_app

    live = create_app(settings)
    live.config["TESTING"] = True
    url, stop = serve_in_thread(live)
    yield url
    stop()
