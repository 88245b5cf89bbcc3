"""Planning from an infant's own dates (given doses, end of breastfeeding) and ART status."""
import datetime as dt

import pytest

from gateway.schedules import (
    ArtThresholds,
    PlannedVisit,
    art_days_late,
    art_next_pickup,
    art_status,
    infant_plan,
    schedule_for,
)

DOB = dt.date(2025, 1, 31)
D = dt.date


def plan(code="ZA", exposed=True, given=None, ended=None, dob=DOB) -> dict[str, PlannedVisit]:
    return {v.name: v for v in infant_plan(schedule_for(code), dob, exposed, given or {}, ended)}


def test_plan_is_sorted_by_due_date_then_name():
    visits = infant_plan(schedule_for("ZA"), DOB, True, {}, None)
    assert visits == sorted(visits, key=lambda v: (v.due_date, v.name))
    assert [v.name for v in visits[:3]] == ["BCG", "OPV0", "PCR birth"]


def test_given_dates_are_reported_and_unknown_names_ignored():
    visits = plan(given={"BCG": D(2025, 2, 2), "Not a dose": D(2025, 2, 2)})
    assert visits["BCG"].given_on == D(2025, 2, 2)
    assert visits["OPV0"].given_on is None
    assert "Not a dose" not in visits


def test_a_late_dose_pushes_the_next_dose_of_its_series():
    on_time = plan("KE", given={"OPV1": D(2025, 3, 14)})
    assert on_time["OPV2"].due_date == D(2025, 4, 11)  # 10 weeks; 4 weeks after OPV1 is the same day
    late = plan("KE", given={"OPV1": D(2025, 4, 1)})
    assert late["OPV2"].due_date == D(2025, 4, 29)  # OPV1 + 4 weeks, later than 10 weeks
    assert late["OPV3"].due_date == D(2025, 5, 9)  # OPV2 not given yet: 14 weeks from birth
    later = plan("KE", given={"OPV1": D(2025, 4, 1), "OPV2": D(2025, 5, 6)})
    assert later["OPV3"].due_date == D(2025, 6, 3)  # OPV2 + 4 weeks
    assert later["Penta2"].due_date == D(2025, 4, 11)  # other series are not moved


def test_an_early_given_dose_never_brings_the_next_one_forward():
    visits = plan("KE", given={"OPV1": D(2025, 2, 20)})  # given early, at 3 weeks
    assert visits["OPV2"].due_date == D(2025, 4, 11)  # still 10 weeks from birth


def test_the_booster_waits_six_months_after_the_last_primary_dose():
    visits = plan("ZA", given={"Hexa3": D(2026, 3, 1)})
    assert visits["Hexa4"].due_date == D(2026, 9, 1)


def test_south_africa_post_breastfeeding_test_appears_when_breastfeeding_ends():
    assert "HIV test after breastfeeding" not in plan("ZA")
    visits = plan("ZA", ended=D(2025, 11, 20))
    assert visits["HIV test after breastfeeding"].due_date == D(2026, 1, 1)  # 6 weeks later
    assert visits["HIV test after breastfeeding"].kind == "infant_hiv_test"
    assert visits["HIV antibody 18 months"].due_date == D(2026, 7, 31)  # unchanged
    assert "HIV test after breastfeeding" not in plan("ZA", exposed=False, ended=D(2025, 11, 20))


def test_who_final_test_moves_later_when_breastfeeding_ends_late():
    assert plan("MW")["Final HIV test"].due_date == D(2026, 7, 31)  # 18 months
    early = plan("MW", ended=D(2025, 12, 1))  # + 3 months = 1 March 2026, before 18 months
    assert early["Final HIV test"].due_date == D(2026, 7, 31)
    late = plan("MW", ended=D(2026, 6, 30))  # + 3 months = 30 September 2026
    assert late["Final HIV test"].due_date == D(2026, 9, 30)
    assert "Final HIV test" not in plan("MW", exposed=False, ended=D(2026, 6, 30))


def test_breastfeeding_cannot_end_before_birth():
    with pytest.raises(ValueError, match="before the date of birth"):
        plan(ended=DOB - dt.timedelta(days=1))


@pytest.mark.parametrize("days, expected", [(30, D(2025, 3, 3)), (60, D(2025, 4, 2)), (90, D(2025, 5, 2)),
                                            (180, D(2025, 7, 31))])
def test_next_pickup_is_dispensed_plus_days_of_supply(days, expected):
    assert art_next_pickup(D(2025, 2, 1), days) == expected


def test_next_pickup_needs_some_supply():
    with pytest.raises(ValueError):
        art_next_pickup(D(2025, 2, 1), 0)


THRESHOLDS = ArtThresholds(late_after_days=1, interruption_after_days=28, lost_after_days=90)
KENYA = ArtThresholds(late_after_days=1, interruption_after_days=28, lost_after_days=30)
DUE = D(2025, 3, 1)


@pytest.mark.parametrize("days, status", [
    (-5, "on_track"), (0, "on_track"), (1, "late"), (7, "late"), (27, "late"),
    (28, "interruption"), (89, "interruption"), (90, "lost"), (400, "lost"),
])
def test_art_status(days, status):
    assert art_status(DUE, DUE + dt.timedelta(days=days), THRESHOLDS) == status


@pytest.mark.parametrize("days, status", [(27, "late"), (28, "interruption"), (29, "interruption"), (30, "lost")])
def test_art_status_with_kenya_thresholds(days, status):
    assert art_status(DUE, DUE + dt.timedelta(days=days), KENYA) == status
    assert art_status(DUE, DUE + dt.timedelta(days=days), schedule_for("KE").thresholds) == status


def test_days_late():
    assert art_days_late(DUE, DUE - dt.timedelta(days=3)) == 0
    assert art_days_late(DUE, DUE) == 0
    assert art_days_late(DUE, D(2025, 3, 2)) == 1
    assert art_days_late(DUE, D(2025, 4, 1)) == 31


def test_an_end_of_breastfeeding_after_the_final_test_plans_it_again():
    # Malawi: the final test at 18 months was made; breastfeeding ended two months later.
    before = plan("MW", given={"Final HIV test": D(2026, 7, 31)})
    assert before["Final HIV test"].given_on == D(2026, 7, 31)
    after = plan("MW", given={"Final HIV test": D(2026, 7, 31)}, ended=D(2026, 9, 30))
    assert (after["Final HIV test"].due_date, after["Final HIV test"].given_on) == (D(2026, 12, 30), None)
    # A test made after breastfeeding had ended stands.
    kept = plan("MW", given={"Final HIV test": D(2026, 12, 30)}, ended=D(2026, 9, 30))
    assert kept["Final HIV test"].given_on == D(2026, 12, 30)
    # An age-anchored test (not the one after breastfeeding) is never re-planned by it.
    za = plan("ZA", given={"HIV antibody 18 months": D(2026, 7, 31)}, ended=D(2026, 9, 30))
    assert za["HIV antibody 18 months"].given_on == D(2026, 7, 31)
