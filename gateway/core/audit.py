"""The audit log: one call records who changed what, in the caller's transaction."""
from __future__ import annotations

from typing import Any

from gateway.adapters.database import db
from gateway.core.models import AuditEntry


def record(actor: str, action: str, entity: str, entity_id: int | None, changes: dict[str, Any] | None = None) -> None:
    """Add an audit entry to the current session; it commits (or not) with the change."""
    db.session.add(AuditEntry(actor=actor, action=action, entity=entity, entity_id=entity_id, changes=changes))


# Reads of a client's record are audited too (who looked at her, when, through what), never with her number.
VIEWED = "client.viewed"  # one client's record read: entity "client", her id
LISTED = "client.listed"  # a search or list: entity "client", no id, {"client_ids": [...]} of those shown
READS = (VIEWED, LISTED)


def viewed(actor: str, client_id: int, via: str) -> None:
    """Record that ``actor`` read this client's record through ``via`` (``console``, ``api``, ``ussd`` ...)."""
    record(actor, VIEWED, "client", client_id, {"via": via})


def listed(actor: str, client_ids: list[int], via: str) -> None:
    """Record one search or list that showed these clients (nothing when it showed none)."""
    if client_ids:
        record(actor, LISTED, "client", None, {"via": via, "client_ids": list(client_ids)})


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{"field": [old, new]}`` for every field whose value changed (values made JSON-safe)."""
    return {k: [_plain(before.get(k)), _plain(v)] for k, v in after.items() if before.get(k) != v}


def _plain(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)
