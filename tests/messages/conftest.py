"""Fixtures: the fake AT server (devtools.at_server) on a loopback port, and what talks to it.

- ``at_app``/``at_server``/``at_url``, ``backend``, ``receiver``: one SMS backend
  against the fake AT, and a stand-in for the gateway's delivery-report route.
- ``at`` and ``gateway``: a whole gateway wired to the fake AT and served itself
  for AT's callbacks (dispatch, the end-to-end path; tests/faults reuses them).

Everything goes over real HTTP through the real ``africastalking`` SDK.
"""
from __future__ import annotations

import socket
import threading

import pytest
from flask import Flask, request

from devtools.at_server import create_app, serve_in_thread
from gateway import create_app as create_gateway_app
from gateway.messages.backends import AfricasTalkingBackend

API_KEY = "at-test-key-not-secret"
# Short enough to keep the suite fast, long enough for a loaded CI machine to answer.
TIMEOUT = (1.0, 1.0)
AT_KEY = "at-key-for-tests"  # the whole-gateway fixtures' key (tests/faults/drills.py uses the same)


@pytest.fixture
def api_key() -> str:
    return API_KEY


@pytest.fixture
def at_app():
    return create_app(api_key=API_KEY)


@pytest.fixture
def at_server(at_app):
    """The fake AT's state: ``configure(...)``, ``sent``, ``requests`` ..."""
    return at_app.extensions["at_server"]


@pytest.fixture
def at_url(at_app):
    base_url, stop = serve_in_thread(at_app)
    yield base_url
    stop()


@pytest.fixture
def closed_url() -> str:
    """A loopback address nobody listens on: connections to it are refused."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.fixture
def backend(at_url):
    return AfricasTalkingBackend("sandbox", API_KEY, sender_id="CLINIC", api_url=at_url,
                                 max_recipients=10, timeout=TIMEOUT)


class Receiver:
    """A tiny delivery-report receiver: what AT would post to the gateway's /sms/delivery."""

    def __init__(self) -> None:
        self.reports: list[dict[str, str]] = []
        self._arrived = threading.Condition()
        self.app = Flask("receiver")

        @self.app.post("/sms/delivery")
        def delivery():
            with self._arrived:
                self.reports.append(request.form.to_dict())
                self._arrived.notify_all()
            return ""

    def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, str]]:
        with self._arrived:
            self._arrived.wait_for(lambda: len(self.reports) >= count, timeout=timeout)
            return list(self.reports)


@pytest.fixture
def receiver():
    receiver = Receiver()
    base_url, stop = serve_in_thread(receiver.app)
    receiver.url = f"{base_url}/sms/delivery"
    yield receiver
    stop()


@pytest.fixture
def at(app):
    """The fake AT server's state object (``sent``, ``configure`` ...), with ``url`` set."""
    at_app = create_app(api_key=AT_KEY)
    url, stop = serve_in_thread(at_app)
    server = at_app.extensions["at_server"]
    server.url = url
    yield server
    stop()


@pytest.fixture
def gateway(app, settings, at):
    """A second app on the same database and Redis, sending through AT and listening for its callbacks."""
    gw = create_gateway_app(settings.replace(sms_backend="africastalking", at_username="sandbox", at_api_key=AT_KEY,
                                             at_api_url=at.url, at_sender_id="CLINIC"))
    gw.config["TESTING"] = True
    url, stop = serve_in_thread(gw)
    gw.url = url
    # Real reports come seconds after the send; a short delay keeps that order here.
    at.configure(delivery_url=f"{url}/sms/delivery", delivery_delay=0.3)
    yield gw
    stop()
