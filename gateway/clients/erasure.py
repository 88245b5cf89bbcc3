"""Erasing a client: her record and everything that names her, gone for good; the audit log keeps the fact.

``erase(client_id, actor)`` removes, in one transaction:

- her row, her infants (and their doses), appointments, reminders;
- every message to or from her number (by client and by number: an SMS she
  sent before she was enrolled names her too) and every task about her or her
  number (call-backs, enrolment requests, follow-ups);
- the network's end-of-session notes of her USSD sessions (``ussd_sessions``);

and, after the commit, what layers above keep by her number (``after_erasure``
hooks: ``gateway.ussd`` deletes her live USSD session records in Redis). Send jobs
already queued in Redis carry message ids only: a send job claims its
messages by id and status, so the ids of deleted rows are skipped (nothing is
sent). The audit log keeps every entry's ids and actions, but entries about
her (and her infants, messages and tasks) lose their ``changes`` (which may
quote her number, name or dates), and an actor that was her number
(``ussd:+27…``: she called before she was enrolled) becomes ``ussd:erased``.
One entry ``client.erased`` records who erased her and how many rows went.

Safe while a dispatch pass holds her reminders: her reminders, then her row,
are locked first (``FOR UPDATE``: the erasure waits for a pass that claimed
them, and a pass skips rows the erasure holds), so a message made by that
pass is deleted with the rest. A second erasure of the same id is a
``NotFound``.
"""
from __future__ import annotations

import logging

from sqlalchemy import Text, cast, delete, null, or_, select, update

from gateway.adapters.database import db
from gateway.core import audit
from gateway.core.errors import NotFound
from gateway.core.models import (Appointment, AuditEntry, Client, DoseGiven, Infant, Message, Reminder, Task,
                                 UssdSession, reminder_appointments)

log = logging.getLogger(__name__)

ERASED_ACTOR = "ussd:erased"


def erase(client_id: int, actor: str) -> dict[str, int]:
    """Erase the client with this id (see the module); commits. Returns how many rows of each kind went."""
    # Her reminders first, locked: a dispatch pass that claimed them finishes first (its messages are then
    # seen below), and a later pass skips them. Her row after: the pass's new messages point at it (a foreign
    # key's share lock), so taking it first would deadlock with a pass that holds her reminders.
    reminder_ids = list(db.session.scalars(select(Reminder.id).where(Reminder.client_id == client_id)
                                           .with_for_update()))
    client = db.session.scalar(select(Client).where(Client.id == client_id).with_for_update())
    if client is None:
        db.session.rollback()
        raise NotFound("no such client (already erased, or never enrolled)")
    phone = client.phone
    infant_ids = list(db.session.scalars(select(Infant.id).where(Infant.client_id == client_id)))
    mine = or_(Message.client_id == client_id, Message.phone == phone)
    message_ids = list(db.session.scalars(select(Message.id).where(mine)))
    task_ids = list(db.session.scalars(select(Task.id).where(or_(Task.client_id == client_id, Task.phone == phone))))
    counts = {"infants": len(infant_ids), "reminders": len(reminder_ids), "messages": len(message_ids),
              "tasks": len(task_ids)}

    execute = db.session.execute
    if reminder_ids:
        execute(delete(reminder_appointments).where(reminder_appointments.c.reminder_id.in_(reminder_ids)))
    if message_ids:
        execute(delete(Message).where(Message.id.in_(message_ids)))
    execute(delete(Reminder).where(Reminder.client_id == client_id))
    counts["appointments"] = execute(delete(Appointment).where(Appointment.client_id == client_id)).rowcount
    if infant_ids:
        execute(delete(DoseGiven).where(DoseGiven.infant_id.in_(infant_ids)))
        execute(delete(Infant).where(Infant.id.in_(infant_ids)))
    if task_ids:
        execute(delete(Task).where(Task.id.in_(task_ids)))
    counts["ussd_sessions"] = execute(delete(UssdSession).where(UssdSession.phone == phone)).rowcount
    _scrub_audit(client_id, phone, {"infant": infant_ids, "message": message_ids, "task": task_ids})
    db.session.expunge(client)
    execute(delete(Client).where(Client.id == client_id))
    audit.record(actor, "client.erased", "client", client_id, counts)
    db.session.commit()
    for hook in _AFTER_ERASURE:  # what layers above keep of her (the USSD session records in Redis)
        try:
            hook(phone)
        except Exception:  # such records expire within minutes anyway
            log.warning("erasure: a clean-up after the erasure failed", exc_info=True)
    return counts


_AFTER_ERASURE: list = []


def after_erasure(hook) -> None:
    """Call ``hook(phone)`` after each erasure has committed (layers above register what they keep by number)."""
    if hook not in _AFTER_ERASURE:
        _AFTER_ERASURE.append(hook)


def _scrub_audit(client_id: int, phone: str, related: dict[str, list[int]]) -> None:
    """Her entries keep their ids and actions; their ``changes`` go, and her number as an actor becomes anonymous."""
    about_her = [(AuditEntry.entity == "client") & (AuditEntry.entity_id == client_id)]
    about_her += [(AuditEntry.entity == entity) & AuditEntry.entity_id.in_(ids) for entity, ids in related.items() if ids]
    db.session.execute(update(AuditEntry).where(or_(*about_her)).values(changes=null()))
    db.session.execute(update(AuditEntry).where(AuditEntry.actor.in_([f"ussd:{phone}", f"sms:{phone}"]))
                       .values(actor=ERASED_ACTOR))
    # Any other entry whose changes quote her number loses them too (a task made for an unknown caller's
    # number, a user's note). Her name is not searched elsewhere: another client may bear it.
    db.session.execute(update(AuditEntry).where(cast(AuditEntry.changes, Text).contains(phone, autoescape=True))
                       .values(changes=null()))
