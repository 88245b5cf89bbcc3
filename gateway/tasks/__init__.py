"""Follow-up tasks: work for a client's Mentor Mother (call her, find her), opened by the gateway."""
from __future__ import annotations

import logging

from sqlalchemy import select

from gateway.adapters.database import db
from gateway.core.models import Client, Message, Task
from gateway.core.phones import masked

log = logging.getLogger(__name__)

# Failed messages in a row before a person follows her up (a wrong or dead number).
FAILURES_BEFORE_FOLLOW_UP = 3


def note_failure(client: Client, message: Message) -> None:
    """Count a failed message; after FAILURES_BEFORE_FOLLOW_UP in a row a person follows her up."""
    client.consecutive_failures = (client.consecutive_failures or 0) + 1
    if client.consecutive_failures >= FAILURES_BEFORE_FOLLOW_UP:
        follow_up(client, "undeliverable", {"reason": message.failure_reason, "failures_in_a_row":
                                            client.consecutive_failures, "message_id": message.id})


def follow_up(client: Client, kind: str, details: dict) -> None:
    """Open a follow-up task for the client's Mentor Mother, unless one of that kind is open already."""
    exists = db.session.scalar(select(Task.id).where(Task.client_id == client.id, Task.kind == kind,
                                                    Task.status == "open"))
    if exists is None:
        db.session.add(Task(kind=kind, client_id=client.id, site_id=client.site_id, phone=client.phone,
                            details=details, status="open"))
        log.info("follow-up task %s for client %s (%s)", kind, client.id, masked(client.phone))
