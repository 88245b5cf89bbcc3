"""The callback URLs to paste into Africa's Talking's dashboard, built from the gateway's public address.

Plain functions (no request, no app): ``flask --app wsgi at check`` prints
them, and docs/going-live.md says where each goes in AT's dashboard.
"""
from __future__ import annotations

import ipaddress
import urllib.parse
from typing import NamedTuple


class Callback(NamedTuple):
    path: str  # as the callbacks blueprint routes it
    setting: str  # what AT's dashboard calls the place it goes


# One line per route of gateway/callbacks (ussd.py and sms.py), in the order AT's dashboard shows them.
CALLBACKS = (
    Callback("/ussd", "USSD callback (the service code's callback URL)"),
    Callback("/ussd/events", "USSD end-of-session notification (events callback URL)"),
    Callback("/sms/inbound", "SMS incoming messages (SMS callback URLs)"),
    Callback("/sms/delivery", "SMS delivery reports (SMS callback URLs)"),
)


def callback_urls(base_url: str, token: str | None) -> list[tuple[Callback, str]]:
    """Each callback with its full URL under ``base_url``, with ``?token=`` when a token is set.

    ``base_url`` is already checked (``config.public_url``). The token is
    URL-encoded so that the gateway reads back exactly ``CALLBACK_TOKEN``.
    """
    query = f"?token={urllib.parse.quote(token, safe='')}" if token else ""
    return [(callback, f"{base_url}{callback.path}{query}") for callback in CALLBACKS]


def address_problems(base_url: str) -> list[str]:
    """Why AT could not use ``base_url`` as it is: not HTTPS, or not a public address. Empty when it looks fine."""
    parts = urllib.parse.urlsplit(base_url)
    host = (parts.hostname or "").lower()
    problems = []
    if parts.scheme.lower() != "https":
        problems.append("it is not HTTPS: AT would send the token and clients' numbers unencrypted; "
                        "use an https:// address")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        private = host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan"))
    else:
        private = not ip.is_global
    if private:
        problems.append(f"{host} is not reachable from the internet: AT cannot call it; "
                        "while trying, use an HTTPS tunnel to this machine (docs/going-live.md)")
    return problems
