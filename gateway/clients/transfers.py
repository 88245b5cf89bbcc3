"""Transfers: a coordinator enrolling a number already enrolled at a site she does not see.

She must not learn that the number is enrolled elsewhere (else she could test
any number), so she gets the answer any enrolment waiting for an admin gets
(the API's 202 ``{"status": "pending_approval"}``, the console's "sent to the
programme admin", the CSV report's ``pending_approval`` count), and nothing of
the client is shown to her. An admin sees a ``transfer_request`` task naming
both sites: approving moves the client to the new site with all her history
(``approve``); rejecting closes it. The task has no site: coordinators of
either site never see it.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import select

from gateway.adapters.database import db
from gateway.clients import enrolment
from gateway.core import audit
from gateway.core.errors import Conflict, ValidationError
from gateway.core.models import Client, Task

KIND = "transfer_request"
PENDING = {"status": "pending_approval"}  # what the one who asked is told, whatever the reason


def held_elsewhere(data: enrolment.EnrolmentData, may_see: Callable[[Client], bool]) -> Client | None:
    """The client enrolled with this number whom the one enrolling may not see (``may_see``), else None.

    Her clinic number is checked first, as any enrolment checks it, so no answer depends on whether the
    number is enrolled elsewhere.
    """
    if enrolment.clinic_number_taken(data.clinic_number, data.site_id):
        raise Conflict("this clinic number is another client's", {"clinic_number": enrolment.CLINIC_NUMBER_TAKEN})
    existing = db.session.scalar(select(Client).where(Client.phone == data.phone))
    return existing if existing is not None and not may_see(existing) else None


def request_transfer(client: Client, to_site_id: int | None, actor: str) -> Task:
    """Ask an admin to move ``client`` to ``to_site_id``; one open request per client and site. Not committed."""
    for task in db.session.scalars(select(Task).where(Task.kind == KIND, Task.client_id == client.id,
                                                      Task.status == "open")):
        if (task.details or {}).get("to_site_id") == to_site_id:
            return task
    task = Task(kind=KIND, status="open", client_id=client.id, site_id=None, phone=client.phone,
                details={"from_site_id": client.site_id, "to_site_id": to_site_id, "requested_by": actor})
    db.session.add(task)
    db.session.flush()
    audit.record(actor, "task.created", "task", task.id,
                 {"kind": KIND, "client_id": client.id, "from_site_id": client.site_id, "to_site_id": to_site_id})
    return task


def request_phone_change(client: Client, holder: Client, actor: str) -> Task:
    """Ask an admin about giving ``client`` the number ``holder`` is enrolled with (at a site the one asking
    does not see). Resolved by hand (the admin changes one record or the other), then closed. Not committed."""
    for task in db.session.scalars(select(Task).where(Task.kind == KIND, Task.client_id == holder.id,
                                                      Task.status == "open")):
        if (task.details or {}).get("for_client_id") == client.id:
            return task
    task = Task(kind=KIND, status="open", client_id=holder.id, site_id=None, phone=holder.phone,
                details={"from_site_id": holder.site_id, "to_site_id": client.site_id, "for_client_id": client.id,
                         "requested_by": actor})
    db.session.add(task)
    db.session.flush()
    audit.record(actor, "task.created", "task", task.id,
                 {"kind": KIND, "client_id": holder.id, "for_client_id": client.id})
    return task


def approve(task: Task, actor: str) -> Client:
    """Move the client to the site the request names (her history goes with her); the caller closes the task,
    re-plans her reminders (her zone may change) and commits."""
    if task.kind != KIND or task.status != "open":
        raise ValidationError("this transfer request is closed already", {"task": f"already {task.status}"})
    if (task.details or {}).get("for_client_id"):
        raise ValidationError("a number asked for another client: change one of the two records by hand, "
                              "then close the request", {"task": "resolved by hand"})
    client = db.session.get(Client, task.client_id)
    if client is None:
        raise ValidationError("the client is no longer enrolled", {"task": "no such client"})
    to_site_id = (task.details or {}).get("to_site_id")
    enrolment.update(client, {"site_id": to_site_id}, actor)
    return client
