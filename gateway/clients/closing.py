"""Whether a client has left the programme: the one question the rest of the gateway asks.

Closing and reopening her are care events (``client_closed``, ``client_reopened``:
``gateway.appointments.record_event``), so they cancel and re-plan what they must.
"""
from __future__ import annotations

from gateway.core.models import Client


def is_closed(client: Client) -> bool:
    """True when the client has left the programme (nothing is sent to her, no follow-up opens)."""
    return client.status == "closed"
