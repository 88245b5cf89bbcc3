"""Readers for input fields, shared by the JSON API, CSV import and forms.

Each reader takes the raw value and returns the typed value or raises
``FieldError`` with a short reason; callers collect reasons per field name.
"""
from __future__ import annotations

import datetime as dt
import re
from typing import Any


# The largest id a row can have (32-bit integer keys); a larger one overflows the driver.
MAX_ID = 2**31 - 1


class FieldError(ValueError):
    pass


# Control characters no input may carry (NUL fails the PostgreSQL driver: a 500). Tab and line breaks
# are let through at the edge, since an SMS may hold them; ``text`` below refuses them in one-line fields.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
CONTROL_REASON = "must not contain control characters"


def has_control(value: str) -> bool:
    """True if ``value`` holds a control character other than tab and line breaks."""
    return _CONTROL.search(value) is not None


def first_with_control(values) -> str | None:
    """The name of the first field whose value (text, or any text inside a list or object) holds one; else None.

    ``values`` is a mapping (a form, a query string, a JSON object) or a list; a nested field is named
    ``outer.inner`` (``items.0.name``). Names count too: a control character in a key names that key.
    """
    items = values.items(multi=True) if hasattr(values, "getlist") else (
        values.items() if isinstance(values, dict) else enumerate(values))
    for name, value in items:
        label = str(name)
        if has_control(label):
            return label.encode("unicode_escape").decode("ascii")
        if isinstance(value, str):
            if has_control(value):
                return label
        elif isinstance(value, (dict, list)):
            inner = first_with_control(value)
            if inner is not None:
                return f"{label}.{inner}"
    return None


def text(value: Any, max_len: int, required: bool = False) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise FieldError("is required")
        return None
    if not isinstance(value, str):
        raise FieldError("must be text")
    value = value.strip()
    if len(value) > max_len:
        raise FieldError(f"must be at most {max_len} characters")
    if any(ord(ch) < 32 for ch in value):
        raise FieldError("must not contain control characters")
    return value


def date(value: Any, required: bool = False) -> dt.date | None:
    """A calendar date written YYYY-MM-DD."""
    if value is None or value == "":
        if required:
            raise FieldError("is required")
        return None
    if not isinstance(value, str):
        raise FieldError("must be a date written YYYY-MM-DD")
    written = value.strip()
    try:
        if len(written) != 10:  # fromisoformat also takes 20250101, which we don't
            raise ValueError(written)
        return dt.date.fromisoformat(written)
    except ValueError:
        raise FieldError(f"is not a date (YYYY-MM-DD): {written[:20]!r}") from None


def integer(value: Any, lo: int, hi: int, required: bool = False) -> int | None:
    if value is None or value == "":
        if required:
            raise FieldError("is required")
        return None
    if isinstance(value, bool):
        raise FieldError("must be a whole number")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise FieldError("must be a whole number") from None
    if not isinstance(value, int):
        raise FieldError("must be a whole number")
    if not lo <= value <= hi:
        raise FieldError(f"must be between {lo} and {hi}")
    return value


_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


def boolean(value: Any, default: bool | None = None) -> bool | None:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise FieldError("must be true or false")


def identifier(value: Any) -> int:
    """A row's id as JSON gives it: a whole number, not text or a boolean (whether the row exists is the caller's)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise FieldError("is required (a whole number)")
    return value


def choice(value: Any, allowed: tuple[str, ...], required: bool = False) -> str | None:
    """One of ``allowed`` (compared in lower case), e.g. a closing reason or a test result."""
    chosen = text(value, 20, required=required)
    if chosen is not None and chosen.lower() not in allowed:
        raise FieldError(f"must be one of {', '.join(allowed)}")
    return chosen.lower() if chosen else None
