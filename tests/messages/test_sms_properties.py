"""Property tests: the cost parser and the status-code classifier over open-ended input."""
from __future__ import annotations

import string
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from gateway.messages.backends import STATUS_CODES, classify, parse_cost
from gateway.messages.backends import STATES

currencies = st.text(alphabet=string.ascii_letters, min_size=3, max_size=3)
amounts = st.decimals(min_value=0, max_value=Decimal("99999999.9999"), places=4, allow_nan=False,
                      allow_infinity=False)


@given(currencies, amounts)
def test_ats_cost_strings_round_trip(currency, amount):
    assert parse_cost(f"{currency} {amount:.4f}") == (amount, currency.upper())


@given(amounts)
def test_a_bare_amount_has_no_currency(amount):
    assert parse_cost(f"{amount}") == (amount, None)


@given(st.one_of(st.text(), st.none(), st.integers(), st.floats(), st.binary()))
def test_anything_parses_to_a_finite_amount_or_nothing(raw):
    amount, currency = parse_cost(raw)
    if amount is None:
        assert currency is None
    else:
        assert amount.is_finite() and amount >= 0
        assert currency is None or (len(currency) == 3 and currency.isupper())


def test_refused_recipients_cost_nothing():
    assert parse_cost("0") == (Decimal(0), None)
    assert parse_cost("KES 0.8000") == (Decimal("0.8000"), "KES")
    assert parse_cost("") == (None, None) and parse_cost("KES") == (None, None) and parse_cost("KES -1") == (None, None)


@given(st.integers())
def test_every_code_maps_to_exactly_one_state(code):
    assert classify(code) in STATES
    if code not in (100, 101, 102):
        assert classify(code) != "accepted"


def test_the_documented_table():
    assert {code: classify(code) for code in STATUS_CODES} == {
        100: "accepted", 101: "accepted", 102: "accepted", 401: "retry", 402: "retry", 403: "permanent",
        404: "permanent", 405: "retry", 406: "permanent", 407: "retry", 409: "failed", 500: "retry",
        501: "retry", 502: "failed"}
