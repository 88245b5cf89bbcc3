"""Programme indicators on a small fixed world whose every answer is counted by hand below.

October 2026 is the month reported; "today" is 15 November 2026. Site A is in South Africa
(Johannesburg, UTC+2; interruption after 28 days late, lost after 90), site B in Kenya
(Nairobi, UTC+3; interruption after 28, lost after 30).
"""
from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from gateway import indicators
from gateway.core.errors import ValidationError
from gateway.adapters.database import db
from gateway.indicators import IndicatorError, Period, compute, for_period, line_list, parse_period, totals
from gateway.core.models import Appointment, Client, Infant, Message, Reminder, Site, reminder_appointments

TODAY = dt.date(2026, 11, 15)
OCT = Period(2026, 10)
D = dt.date
T = dt.datetime


@pytest.fixture
def world(app):
    a = Site(name="A", country="ZA", timezone="Africa/Johannesburg")
    b = Site(name="B", country="KE", timezone="Africa/Nairobi")
    db.session.add_all([a, b])
    db.session.flush()
    n = iter(range(1, 100))

    def client(site, created, name=None):
        c = Client(phone=f"+2782000{next(n):04d}", country=site.country, language="en", site_id=site.id,
                   created_at=created, name=name)
        db.session.add(c)
        db.session.flush()
        return c

    def visit(c, kind, name, due, status="due", done=None, infant=None):
        row = Appointment(client_id=c.id, kind=kind, name=name, due_date=due, status=status, done_on=done,
                          infant_id=infant.id if infant else None)
        db.session.add(row)
        db.session.flush()
        return row

    def infant(c, born, exposed=True):
        row = Infant(client_id=c.id, date_of_birth=born, hiv_exposed=exposed)
        db.session.add(row)
        db.session.flush()
        return row

    def sms(c, status, sent=None, delivered=None, updated=None, direction="out"):
        db.session.add(Message(client_id=c.id, direction=direction, phone=c.phone, text="x", status=status,
                               backend="outbox", sent_at=sent, delivered_at=delivered,
                               updated_at=updated or sent or T(2026, 10, 1)))

    def reminder(c, visit_row, status):
        r = Reminder(client_id=c.id, send_date=visit_row.due_date, send_at=T(2026, 10, 1), stale_at=T(2026, 10, 2),
                     template="today", due_date=visit_row.due_date, status=status)
        db.session.add(r)
        db.session.flush()
        db.session.execute(reminder_appointments.insert().values(reminder_id=r.id, appointment_id=visit_row.id))

    # Site A
    c1 = client(a, T(2026, 9, 1), "Thandi")
    r1 = visit(c1, "art_refill", "ART refill", D(2026, 10, 5), "done", D(2026, 10, 5))  # on time
    visit(c1, "art_refill", "ART refill", D(2026, 11, 4))  # November: not October's
    reminder(c1, r1, "delivered")
    c2 = client(a, T(2026, 9, 1))
    r2 = visit(c2, "art_refill", "ART refill", D(2026, 10, 10), "done", D(2026, 10, 12))  # two days late
    reminder(c2, r2, "failed")
    c3 = client(a, T(2026, 8, 1))
    visit(c3, "art_refill", "ART refill", D(2026, 9, 10))  # never collected: 28 days late on 8 Oct
    c4 = client(a, T(2026, 6, 1))
    visit(c4, "art_refill", "ART refill", D(2026, 7, 10), "done", D(2026, 10, 20))  # 90 days late on 8 Oct
    c5 = client(a, T(2026, 10, 31, 23, 0))  # 1 November, 01:00 in Johannesburg: not in care in October
    c6 = client(a, T(2026, 9, 1))
    visit(c6, "art_refill", "ART refill", D(2026, 10, 20), "cancelled")  # cancelled: never counted

    i1 = infant(c1, D(2025, 1, 15))  # 21 months old at the end of October
    infant(c2, D(2024, 10, 1))  # 25 months: out of follow-up
    infant(c2, D(2026, 5, 1), exposed=False)
    i4 = infant(c3, D(2026, 8, 2))
    visit(c1, "infant_hiv_test", "HIV antibody 18 months", D(2026, 7, 15), "done", D(2026, 10, 3), i1)  # final
    visit(c1, "infant_hiv_test", "HIV test after breastfeeding", D(2026, 10, 12), infant=i1)
    visit(c3, "infant_hiv_test", "PCR 10 weeks", D(2026, 10, 11), "done", D(2026, 10, 11), i4)
    visit(c3, "immunisation", "Hexa1", D(2026, 10, 1), "done", D(2026, 10, 20), i4)  # 19 days: on time
    visit(c3, "immunisation", "PCV1", D(2026, 10, 1), "done", D(2026, 11, 5), i4)  # 35 days: late
    visit(c3, "immunisation", "RV1", D(2026, 10, 1), infant=i4)  # not given

    sms(c1, "delivered", T(2026, 10, 5, 8), T(2026, 10, 5, 8, 1))
    sms(c2, "sent", T(2026, 10, 31, 23, 30))  # 1 November in Johannesburg
    sms(c2, "failed", T(2026, 10, 10, 8), updated=T(2026, 10, 10, 9))
    sms(c3, "received", direction="in", updated=T(2026, 10, 3))  # incoming: not counted

    # Site B (Kenya: lost after 30 days)
    c7 = client(b, T(2026, 9, 1))
    visit(c7, "art_refill", "ART refill", D(2026, 9, 10))  # 28 days late on 8 Oct, 30 days on 10 Oct
    sms(c7, "sent", T(2026, 9, 30, 21, 30))  # 1 October, 00:30 in Nairobi
    db.session.commit()
    return {"a": a, "b": b, "clients": [c1, c2, c3, c4, c5, c6, c7]}


EXPECTED_A = {
    "clients_active": 5,  # c1 c2 c3 c4 c6 (c5 enrolled on 1 November, local time)
    "art_refills_due": 2,  # c1's and c2's (c6's was cancelled)
    "art_refills_on_time": 1,  # c1's
    "art_interruption": 1,  # c3's
    "art_lost": 1,  # c4's (collected after it had been 90 days late)
    "infants_exposed": 2,  # i1, i4
    "infant_tests_due": 2,  # i1's after breastfeeding, i4's PCR 10 weeks
    "infant_tests_done": 1,  # i4's
    "final_tests_done": 1,  # i1's antibody test, done 3 October
    "immunisations_due": 3,
    "immunisations_on_time": 1,  # Hexa1
    "sms_sent": 2, "sms_delivered": 1, "sms_failed": 1,
}
EXPECTED_B = dict.fromkeys(EXPECTED_A, 0) | {"clients_active": 1, "art_interruption": 1, "art_lost": 1,
                                              "sms_sent": 1}


def test_each_indicator_counted_by_hand(world):
    a, b = world["a"], world["b"]
    values = compute([OCT], today=TODAY)
    assert totals(values, a.id) == {code: {"2026-10": n} for code, n in EXPECTED_A.items()}
    assert totals(values, b.id) == {code: {"2026-10": n} for code, n in EXPECTED_B.items()}
    assert {code: v["2026-10"] for code, v in totals(values).items()} == \
        {code: EXPECTED_A[code] + EXPECTED_B[code] for code in EXPECTED_A}


def test_one_site_and_a_year_in_one_pass(world):
    a = world["a"]
    months = indicators.last_months(Period(2026, 11), 13)
    assert months[0] == Period(2025, 11) and months[-1] == Period(2026, 11)
    values = totals(compute(months, [a.id], today=TODAY))
    assert values["art_refills_due"]["2026-10"] == 2
    assert values["art_interruption"]["2026-08"] == 1  # c4's refill of 10 July, 28 days late on 7 August
    assert values["clients_active"]["2026-06"] == 1 and values["clients_active"]["2026-11"] == 6
    assert values["sms_sent"]["2026-11"] == 1  # c2's of 31 October 23:30 UTC
    # November so far (to the 15th): c1's refill of 4 November is due and not collected.
    assert values["art_refills_due"]["2026-11"] == 1 and values["art_refills_on_time"]["2026-11"] == 0
    assert all(values[code]["2025-11"] == 0 for code in values)


def test_the_lists_behind_the_numbers(world):
    a = world["a"]
    rows = line_list("art_refills_on_time", OCT, [a.id], today=TODAY).rows
    assert [(r["client_name"], r["due_date"], r["done_on"]) for r in rows] == [("Thandi", D(2026, 10, 5),
                                                                               D(2026, 10, 5))]
    for code, n in EXPECTED_A.items():
        assert len(line_list(code, OCT, [a.id], today=TODAY).rows) == n, code
    assert line_list("clients_active", OCT, [world["b"].id], today=TODAY).rows[0]["client_id"] == \
        world["clients"][6].id
    assert line_list("clients_active", OCT, [], today=TODAY).rows == []  # a coordinator of no site
    truncated = line_list("clients_active", OCT, [a.id], limit=2, today=TODAY)
    assert len(truncated.rows) == 2 and truncated.truncated


def test_reminder_comparison(world):
    result = indicators.reminder_comparison("art_refills_on_time", OCT, [world["a"].id], today=TODAY)
    assert result.due == {"delivered": 1, "not_delivered": 1}
    assert result.on_time == {"delivered": 1}
    assert result.rate("delivered") == 1 and result.rate("not_delivered") == 0 and result.rate("sent") is None


@pytest.mark.parametrize("text, reason", [
    ("2026-13", "not a month"), ("26-10", "not a month"), ("", "not a month"), ("2026-1", "not a month"),
    ("2026-12", "in the future"),
])
def test_bad_periods(text, reason):
    with pytest.raises(ValidationError) as caught:
        parse_period(text, TODAY)
    assert reason in caught.value.fields["period"]


def test_for_period_and_unknown_site(world):
    assert for_period(OCT, site_id=world["a"].id)["art_refills_due"] >= 2  # today, not the fixed today
    assert for_period(OCT, site_id=999999)["clients_active"] == 0


@pytest.mark.parametrize("body, message", [
    ("indicators:\n  - code: x1\n    name: X\n    numerator: {words: w, count: visits, period: due}\n",
     "indicators.yaml:4: indicator 'x1': count 'visits'"),
    ("indicators:\n  - code: x1\n    name: X\n    numerator: {words: w, count: appointments, period: sent}\n",
     "indicators.yaml:4: indicator 'x1': period 'sent'"),
    ("indicators:\n  - code: x1\n    name: X\n    numerator:\n      words: w\n      count: appointments\n"
     "      period: due\n      where: {kind: vaccine}\n", "indicators.yaml:8: indicator 'x1': kind: 'vaccine'"),
    ("indicators:\n  - code: x1\n    name: X\n    numerator:\n      words: w\n      count: appointments\n"
     "      period: due\n      where: {colour: red}\n", "indicators.yaml:8: indicator 'x1': where: unknown key"),
    ("indicators:\n  - code: x1\n    name: X\n    numerator: {words: w, count: clients, period: in_care_at_end}\n"
     "    denominator: {words: w, indicator: nothing}\n", "indicators.yaml:2: indicator 'x1': denominator names"),
    ("indicators: [\n", "indicators.yaml:2: not valid YAML"),
    ("indicators:\n  - code: X-1\n    name: X\n    numerator: {words: w, count: clients, period: in_care_at_end}\n",
     "indicators.yaml:2: code 'X-1'"),
])
def test_the_file_is_checked_with_lines(tmp_path, body, message):
    path = tmp_path / "indicators.yaml"
    path.write_text(body)
    with pytest.raises(IndicatorError) as caught:
        indicators.load(path)
    assert any(line.startswith(message) for line in caught.value.errors), caught.value.errors


def test_the_packaged_file_has_the_contract_codes():
    codes = set(indicators.definitions())
    assert {"clients_active", "art_refills_due", "art_refills_on_time", "art_interruption", "art_lost",
            "infants_exposed", "infant_tests_due", "infant_tests_done", "final_tests_done", "immunisations_due",
            "immunisations_on_time", "sms_sent", "sms_delivered", "sms_failed"} <= codes
    path_text = textwrap.dedent(indicators.FILE.read_text())
    assert "SELECT" not in path_text.upper().replace("SELECTED", "")  # queries live in code, not in the file


def test_closed_clients_leave_the_counts_from_their_closing_day(world):
    """A closed client (clients.status, clients.closed_on) leaves every count from the day she was closed."""
    c2, c4 = world["clients"][1], world["clients"][3]
    c2.status, c2.closed_reason, c2.closed_on = "closed", "transferred_out", D(2026, 10, 7)  # her refill of 10 October leaves the counts
    c4.status, c4.closed_reason, c4.closed_on = "closed", "moved_away", D(2026, 10, 20)  # her refill was "lost" on 8 October: counted
    world["clients"][0].closed_on = D(2026, 10, 1)  # a date, but not closed (reopened): counted
    db.session.commit()
    october = {code: v["2026-10"] for code, v in totals(compute([OCT], [world["a"].id], today=TODAY)).items()}
    assert october["art_refills_due"] == 1 and october["art_refills_on_time"] == 1
    assert october["art_lost"] == 1
    assert october["clients_active"] == EXPECTED_A["clients_active"] - 2  # c2 and c4 were closed by 31 October
    assert october["infants_exposed"] == EXPECTED_A["infants_exposed"]  # i1 (c1's) and i4 (c3's)
    september = totals(compute([Period(2026, 9)], [world["a"].id], today=TODAY))
    assert september["clients_active"]["2026-09"] == 5  # c1 c2 c3 c4 c6: all still open then
