import pytest

from gateway.core.phones import PhoneError, masked, normalise, region_of

# (local form as written on a clinic register, country, E.164)
LOCAL = [
    ("082 123 4567", "ZA", "+27821234567"),
    ("0612345678", "ZA", "+27612345678"),
    ("0712 345 678", "KE", "+254712345678"),
    ("0991 234 567", "MW", "+265991234567"),
    ("0772 123456", "UG", "+256772123456"),
    ("5812 3456", "LS", "+26658123456"),
    ("7612 3456", "SZ", "+26876123456"),
    ("82 123 4567", "MZ", "+258821234567"),
    ("0754 123 456", "TZ", "+255754123456"),
    ("0977 123 456", "ZM", "+260977123456"),
]


@pytest.mark.parametrize("raw,country,e164", LOCAL)
def test_local_forms_become_e164(raw, country, e164):
    assert normalise(raw, country) == e164


@pytest.mark.parametrize("raw,country,e164", LOCAL)
def test_international_forms_are_read_whatever_the_country(raw, country, e164):
    spaced = e164[:4] + " " + e164[4:6] + " " + e164[6:]
    assert normalise(spaced, "ZA") == e164
    assert normalise("00" + e164[1:], "KE") == e164
    assert normalise(e164, country.lower()) == e164


def test_punctuation_is_ignored():
    assert normalise("(082) 123-4567", "ZA") == "+27821234567"
    assert normalise("+265 99 123 4567", "ZA") == "+265991234567"


@pytest.mark.parametrize("raw,country,reason", [
    ("", "ZA", "missing"),
    ("   ", "ZA", "missing"),
    (None, "ZA", "missing"),
    ("011 123 4567", "ZA", "not a mobile"),  # Johannesburg landline
    ("082 123", "ZA", "not a valid"),
    ("phone me", "ZA", "not a phone number"),
    ("+999 123 456 789", "ZA", "not a phone number"),
    ("1" * 40, "ZA", "too long"),
])
def test_refusals_say_why(raw, country, reason):
    with pytest.raises(PhoneError, match=reason):
        normalise(raw, country)


def test_masked_hides_the_middle():
    assert masked("+27821234567") == "+278******67"
    assert masked("+27821234567").count("*") == len("+27821234567") - 6


@pytest.mark.parametrize("e164,region", [
    ("+27821234567", "ZA"), ("+255712345678", "TZ"), ("+254712345678", "KE"), ("+447400123456", "GB"), ("+256772123456", "UG"),
])
def test_region_of_an_e164_number(e164, region):
    assert region_of(e164) == region
