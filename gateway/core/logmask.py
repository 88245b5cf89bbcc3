"""Phone numbers never reach a log: every log record is masked as it is made.

A traceback quotes what the failing code held (SQLAlchemy quoted a query's
parameters: a client's number and her SMS text), and a request line quotes its
query string. ``install`` wraps the logging module's record factory so every
record, from any logger and for any handler (gunicorn's, a test's capture),
carries its message and traceback with phone-like numbers masked
(``phones.mask_numbers``: +27821234567 becomes +278******67).
"""
from __future__ import annotations

import logging

from gateway.core.phones import mask_numbers

_FORMATTER = logging.Formatter()


class MaskPhones(logging.Filter):
    """A filter that rewrites a record with its phone numbers masked; it never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        mask(record)
        return True


def mask(record: logging.LogRecord) -> logging.LogRecord:
    if getattr(record, "_phones_masked", False):
        return record
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: logging reports it itself, on the raw record
        return record
    record.msg, record.args = mask_numbers(message), ()
    if record.exc_info and not record.exc_text:
        record.exc_text = _FORMATTER.formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = mask_numbers(record.exc_text)
    if record.stack_info:
        record.stack_info = mask_numbers(record.stack_info)
    record._phones_masked = True
    return record


def install() -> None:
    """Mask every record made from now on (idempotent: one wrap however many apps are created)."""
    factory = logging.getLogRecordFactory()
    if getattr(factory, "masks_phones", False):
        return

    def masking_factory(*args, **kwargs):
        return mask(factory(*args, **kwargs))

    masking_factory.masks_phones = True
    logging.setLogRecordFactory(masking_factory)
    root = logging.getLogger()
    for handler in root.handlers:  # records handed to a handler directly, not made by the factory
        if not any(isinstance(f, MaskPhones) for f in handler.filters):
            handler.addFilter(MaskPhones())
