"""Property tests: the date conventions and the plans hold for any dates, not just the examples."""
import calendar
import datetime as dt

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.schedules import ArtThresholds, Offset, add_offset, all_schedules, art_status, infant_plan

anchors = st.dates(min_value=dt.date(1900, 1, 1), max_value=dt.date(2200, 12, 31))
month_offsets = st.one_of(
    st.builds(Offset, st.integers(-1200, 1200), st.just("m")),
    st.builds(Offset, st.integers(-100, 100), st.just("y")),
)
schedules = st.sampled_from(sorted(all_schedules().values(), key=lambda s: s.country))
births = st.dates(min_value=dt.date(2000, 1, 1), max_value=dt.date(2100, 1, 1))
days_after_birth = st.integers(0, 3 * 365)


@given(anchors, month_offsets)
def test_month_offsets_land_in_the_right_month_and_never_overshoot(anchor, offset):
    result = add_offset(anchor, offset)  # never raises: always a valid date
    months = offset.amount * (12 if offset.unit == "y" else 1)
    expected_year, expected_month = divmod(anchor.year * 12 + anchor.month - 1 + months, 12)
    assert (result.year, result.month) == (expected_year, expected_month + 1)
    assert result.day <= anchor.day
    last_day = calendar.monthrange(result.year, result.month)[1]
    assert result.day == anchor.day or result.day == last_day


@given(anchors, st.integers(-1000, 1000))
def test_week_offsets_are_exact_multiples_of_seven_days(anchor, weeks):
    result = add_offset(anchor, Offset(weeks, "w"))
    assert (result - anchor).days == 7 * weeks
    assert result == add_offset(anchor, Offset(7 * weeks, "d"))


@given(anchors, st.integers(-100_000, 100_000))
def test_day_offsets_add_days(anchor, days):
    assert (add_offset(anchor, f"{days}d") - anchor).days == days


@given(anchors, st.integers(0, 1200))
def test_month_offsets_are_monotonic(anchor, months):
    assert add_offset(anchor, Offset(months, "m")) <= add_offset(anchor, Offset(months + 1, "m"))


@st.composite
def infants(draw):
    schedule = draw(schedules)
    dob = draw(births)
    names = [d.name for d in schedule.doses]
    given = draw(st.dictionaries(st.sampled_from(names), days_after_birth.map(lambda n: dob + dt.timedelta(n))))
    ended = draw(st.none() | days_after_birth.map(lambda n: dob + dt.timedelta(n)))
    return schedule, dob, draw(st.booleans()), given, ended


@settings(max_examples=200)
@given(infants())
def test_plans_are_sorted_and_never_before_birth(infant):
    schedule, dob, exposed, given, ended = infant
    visits = infant_plan(schedule, dob, exposed, given, ended)
    assert visits == sorted(visits, key=lambda v: (v.due_date, v.name))
    assert all(v.due_date >= dob for v in visits)
    assert len({v.name for v in visits}) == len(visits)
    # A given date is reported as given, except the test after breastfeeding made before its recorded end.
    assert all(v.given_on == given.get(v.name) or (
        v.given_on is None and schedule.dose(v.name).after_breastfeeding_stops is not None
        and ended is not None and given[v.name] < ended) for v in visits)
    if not exposed:
        assert not any(schedule.dose(v.name).hiv_exposed_only for v in visits)


@settings(max_examples=200)
@given(infants(), st.integers(1, 400), st.data())
def test_a_later_given_date_never_brings_a_dependent_dose_forward(infant, delay, data):
    schedule, dob, exposed, given, ended = infant
    dependents = [d for d in schedule.doses
                  if d.after and (exposed or not d.hiv_exposed_only) and d.applies_in(None)]
    if not dependents:
        return
    dose = data.draw(st.sampled_from(dependents))
    earlier = dict(given)
    earlier.setdefault(dose.after.dose, dob + dt.timedelta(days=42))
    later = {**earlier, dose.after.dose: earlier[dose.after.dose] + dt.timedelta(days=delay)}
    without = {k: v for k, v in earlier.items() if k != dose.after.dose}

    def due(given_dates):
        return {v.name: v.due_date for v in infant_plan(schedule, dob, exposed, given_dates, ended)}[dose.name]

    assert due(without) <= due(earlier) <= due(later)


@settings(max_examples=200)
@given(infants(), st.integers(1, 400))
def test_breastfeeding_ending_later_never_brings_a_visit_forward(infant, delay):
    schedule, dob, exposed, given, ended = infant
    ended = ended or dob
    before = {v.name: v.due_date for v in infant_plan(schedule, dob, exposed, given, ended)}
    after = {v.name: v.due_date for v in infant_plan(schedule, dob, exposed, given, ended + dt.timedelta(delay))}
    assert before.keys() == after.keys()
    assert all(before[name] <= after[name] for name in before)


ORDER = ["on_track", "late", "interruption", "lost"]


@given(st.integers(1, 10), st.integers(0, 60), st.integers(0, 120), anchors, st.integers(-30, 400), st.integers(0, 30))
def test_art_status_only_gets_worse_as_days_pass(late, gap1, gap2, due, days, more):
    thresholds = ArtThresholds(late, late + 1 + gap1, late + 1 + gap1 + gap2)
    today = due + dt.timedelta(days=days)
    first = art_status(due, today, thresholds)
    second = art_status(due, today + dt.timedelta(days=more), thresholds)
    assert ORDER.index(first) <= ORDER.index(second)
    assert (first == "on_track") == (days < late)
