"""Audit entries in words: an action's name as a person says it, its changes as ``field: old → new`` lines.

The audit log stores ``changes`` as JSON (``audit.diff``'s ``{"field": [old, new]}``, or plain
``{"field": value}`` facts); pages show these lines instead of the raw JSON.
"""
from __future__ import annotations

from typing import Any

ACTION_LABELS = {
    "client.enrolled": "Enrolled",
    "client.updated": "Details changed",
    "client.opted_out": "SMS stopped",
    "client.opted_in": "SMS restarted",
    "client.pin_reset": "USSD PIN reset",
    "client.pin_set": "USSD PIN set",
    "client.pin_locked": "USSD PIN locked",
    "client.phone_flag_cleared": "Refused-number flag cleared",
    "art.dispensed": "Medicine picked up",
    "infant.registered": "Birth registered",
    "dose.given": "Dose or test given",
    "breastfeeding.ended": "Breastfeeding ended",
    "message.queued": "Message sent from the console",
    "message.retried": "Message retried",
    "task.created": "Task opened",
    "task.done": "Task done",
    "task.rejected": "Request rejected",
    "alert.resolved": "Alert resolved",
    "sending.resumed": "Sending resumed",
    "site.created": "Site added",
    "user.created": "User added",
    "user.updated": "User changed",
    "user.signed_in": "Signed in",
    "user.signed_out": "Signed out",
    "user.pin_locked": "USSD PIN locked",
    "user.pin_rehashed": "USSD PIN re-hashed",
    "token.created": "API token created",
    "token.revoked": "API token revoked",
    "ussd_phone.played": "Played on the console's USSD phone",
    "client.viewed": "Record viewed",
    "client.listed": "Listed in a search",
    "client.erased": "Erased",
    "import.report_downloaded": "Refused rows downloaded",
}


def action_label(action: str) -> str:
    """``client.updated`` -> ``Details changed``; an action without a label in plain words."""
    if action in ACTION_LABELS:
        return ACTION_LABELS[action]
    noun, _, verb = action.partition(".")
    if noun == "ussd":
        return "On her phone (USSD): " + verb.replace("_", " ")
    return f"{noun} {verb}".replace("_", " ").strip().capitalize()


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_value(v) for v in value) or "—"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items()) or "—"
    return str(value)


def change_lines(changes: dict[str, Any] | None) -> list[str]:
    """``{"name": ["Thandi", "Thandiwe"], "infants": 1}`` -> ``["name: Thandi → Thandiwe", "infants: 1"]``."""
    if not isinstance(changes, dict):
        return [] if changes is None else [_value(changes)]
    lines = []
    for key, value in changes.items():
        label = str(key).replace("_", " ")
        if isinstance(value, list) and len(value) == 2:
            lines.append(f"{label}: {_value(value[0])} → {_value(value[1])}")
        else:
            lines.append(f"{label}: {_value(value)}")
    return lines
