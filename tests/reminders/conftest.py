"""A gateway wired to the fake Africa's Talking over real HTTP, and served itself for AT's callbacks."""
from __future__ import annotations

import pytest

from devtools.at_server import create_app as create_at_app
from devtools.at_server import serve_in_thread
from gateway import create_app

AT_KEY = "at-key-for-tests"


@pytest.fixture
def at(app):
    """The fake AT server's state object (``sent``, ``configure`` ...), with ``url`` set."""
    at_app = create_at_app(api_key=AT_KEY)
    url, stop = serve_in_thread(at_app)
    server = at_app.extensions["at_server"]
    server.url = url
    yield server
    stop()


@pytest.fixture
def gateway(app, settings, at):
    """A second app on the same database and Redis, sending through AT and listening for its callbacks."""
    gw = create_app(settings.replace(sms_backend="africastalking", at_username="sandbox", at_api_key=AT_KEY,
                                     at_api_url=at.url, at_sender_id="CLINIC"))
    gw.config["TESTING"] = True
    url, stop = serve_in_thread(gw)
    gw.url = url
    # Real reports come seconds after the send; a short delay keeps that order here.
    at.configure(delivery_url=f"{url}/sms/delivery", delivery_delay=0.3)
    yield gw
    stop()
