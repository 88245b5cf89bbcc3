"""Sending SMS: the one place that talks to Africa's Talking (docs/africastalking.md).

``get_backend(settings).send(text, phones)`` makes one request and returns a
``SendResult`` with an ``Outcome`` per phone; it raises only ``ValueError``
for more phones than ``AT_MAX_RECIPIENTS``.
"""
from gateway.messages.backends import (
    STATUS_CODES,
    AfricasTalkingBackend,
    Outcome,
    OutboxBackend,
    SendResult,
    SMSBackend,
    State,
    classify,
    get_backend,
    parse_cost,
)

__all__ = [
    "STATUS_CODES", "AfricasTalkingBackend", "Outcome", "OutboxBackend", "SendResult", "SMSBackend", "State",
    "classify", "get_backend", "parse_cost",
]
