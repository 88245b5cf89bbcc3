"""Fixtures: the fake AT server (devtools.at_server) on a loopback port, and a backend pointed at it.

Everything goes over real HTTP through the real ``africastalking`` SDK.
"""
from __future__ import annotations

import threading

import pytest
from flask import Flask, request

from devtools.at_server import create_app, serve_in_thread
from gateway.messages.backends import AfricasTalkingBackend

API_KEY = "at-test-key-not-secret"
# Short enough to keep the suite fast, long enough for a loaded CI machine to answer.
TIMEOUT = (1.0, 1.0)


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
