"""The one phone-number normaliser: any local or international form -> E.164."""
from __future__ import annotations

import functools
import re

import phonenumbers
from phonenumbers import PhoneNumberType

_MOBILE = {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE}


class PhoneError(ValueError):
    """The number cannot be used; the message says why, in words a coordinator understands."""


def normalise(raw: str, country: str) -> str:
    """Read ``raw`` as dialled in ``country`` and return it in E.164 (``+27821234567``).

    Accepts local forms (``082 123 4567``), international forms with ``+`` or
    ``00``, spaces, dashes, dots and brackets. Refuses anything that is not a
    valid mobile number, since SMS and USSD need one.
    """
    if raw is None or not str(raw).strip():
        raise PhoneError("phone number is missing")
    text = str(raw).strip()
    if len(text) > 32:
        raise PhoneError("phone number is too long")
    if text.startswith("00"):
        text = "+" + text[2:]
    return _e164(text, country.upper())


# A USSD session sends its caller's number with every request; reading one costs ~0.1 ms of
# phonenumbers' work. Numbers read well are remembered (a refused one raises and is not).
@functools.lru_cache(maxsize=8192)
def _e164(text: str, country: str) -> str:
    try:
        number = phonenumbers.parse(text, country)
    except phonenumbers.NumberParseException as exc:
        raise PhoneError(f"not a phone number ({_reason(exc)})") from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneError(f"not a valid phone number for {country}" if not text.startswith("+")
                         else "not a valid phone number")
    if phonenumbers.number_type(number) not in _MOBILE:
        raise PhoneError("not a mobile number (SMS and USSD need a mobile)")
    # Some plans (South Africa's among them) also call short service numbers
    # "mobile"; a subscriber's phone is as long as the plan's example mobile.
    region = phonenumbers.region_code_for_number(number)
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if example and len(str(number.national_number)) < len(str(example.national_number)):
        raise PhoneError("not a valid phone number: too short for a mobile")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


@functools.lru_cache(maxsize=8192)
def region_of(e164: str) -> str | None:
    """The ISO region of a number already in E.164 (``ZA`` for ``+2782…``), or None; remembered like ``_e164``.

    An unknown USSD caller's country is read from her number on every request of her session.
    """
    return phonenumbers.region_code_for_number(phonenumbers.parse(e164))


def _reason(exc: phonenumbers.NumberParseException) -> str:
    return {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "letters or symbols where digits belong",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }.get(exc.error_type, "unreadable")


def masked(e164: str) -> str:
    """A number with its middle hidden, for logs and low-privilege views: +2782*****67."""
    if len(e164) <= 6:
        return "*" * len(e164)
    return e164[:4] + "*" * (len(e164) - 6) + e164[-2:]


# Anything that may be a phone number in free text: seven digits or more, with or without a "+".
PHONE_LIKE = re.compile(r"\+?\d{7,}")


def mask_numbers(text: str) -> str:
    """``text`` with every phone-like run of digits masked (``masked``): for log lines and AT's error texts."""
    return PHONE_LIKE.sub(lambda m: masked(m.group()), text)
