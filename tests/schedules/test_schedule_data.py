"""The shipped data files: they load, they say what schedules.md says, and they fall back to the WHO default."""
import datetime as dt

import pytest

from gateway.core import models
from gateway.core.countries import COUNTRIES
from gateway.schedules import (
    CountrySchedule,
    add_offset,
    all_schedules,
    infant_plan,
    load_reminder_rules,
    load_schedules,
    reminder_rules,
    schedule_for,
)
from gateway.schedules.loader import APPOINTMENT_KINDS, DOSE_KINDS

DOB = dt.date(2025, 1, 31)


def due_dates(schedule: CountrySchedule, exposed=True, given=None, ended=None, dob=DOB,
              region=None) -> dict[str, dt.date]:
    return {v.name: v.due_date for v in infant_plan(schedule, dob, exposed, given or {}, ended, region)}


def test_every_file_loads_with_sources_and_unique_names():
    schedules = load_schedules()
    assert set(schedules) == {"default", "ZA", "KE", "MW", "UG", "ZM", "LS", "SZ", "MZ", "TZ", "AO"}
    for code, schedule in schedules.items():
        assert schedule.sources, code
        names = [d.name for d in schedule.doses]
        assert len(names) == len(set(names)), code
        assert {d.kind for d in schedule.doses} <= set(DOSE_KINDS)
        assert all(d.hiv_exposed_only for d in schedule.doses if d.kind == "infant_hiv_test"), code
        assert code == "default" or code in COUNTRIES


def test_the_loaded_files_are_cached_once_per_process():
    assert schedule_for("ZA") is schedule_for("za")
    assert all_schedules()["ZA"] is schedule_for("ZA")
    assert reminder_rules() is reminder_rules()


@pytest.mark.parametrize("code", ["NG", "ng", "BW", "", None])
def test_a_country_without_its_own_file_gets_the_who_default(code):
    schedule = schedule_for(code)
    assert schedule.country == "default"
    dates = due_dates(schedule)
    assert dates["BCG"] == dates["HepB0"] == DOB
    assert [dates[f"DTP{i}"] for i in (1, 2, 3)] == [add_offset(DOB, w) for w in ("6w", "10w", "14w")]
    assert dates["MCV1"] == add_offset(DOB, "9m")
    assert dates["PCR 6 weeks"] == add_offset(DOB, "6w")
    assert dates["PCR 9 months"] == add_offset(DOB, "9m")
    assert dates["Final HIV test"] == dt.date(2026, 7, 31)


def test_south_africa_infant_born_31_january():
    dates = due_dates(schedule_for("ZA"))
    assert dates["BCG"] == dates["OPV0"] == DOB
    assert dates["OPV1"] == dates["RV1"] == dates["Hexa1"] == dates["PCV1"] == dt.date(2025, 3, 14)  # day 42
    assert dates["Hexa2"] == dt.date(2025, 4, 11)  # 10 weeks
    assert dates["RV2"] == dates["Hexa3"] == dates["PCV2"] == dt.date(2025, 5, 9)  # 14 weeks
    assert dates["MR1"] == dt.date(2025, 7, 31)  # 6 months
    assert dates["PCV3"] == dt.date(2025, 10, 31)  # 9 months
    assert dates["MR2"] == dt.date(2026, 1, 31)  # 12 months
    assert dates["Hexa4"] == dt.date(2026, 7, 31)  # 18 months
    assert dates["Td1"] == dt.date(2031, 1, 31) and dates["Td2"] == dt.date(2037, 1, 31)
    assert "OPV2" not in dates  # South Africa gives one OPV dose after birth; polio is in Hexa


def test_south_africa_hiv_tests_only_for_exposed_infants():
    exposed = due_dates(schedule_for("ZA"), exposed=True)
    assert exposed["PCR birth"] == DOB
    assert exposed["PCR 10 weeks"] == dt.date(2025, 4, 11)
    assert exposed["PCR 6 months"] == dt.date(2025, 7, 31)
    assert exposed["HIV antibody 18 months"] == dt.date(2026, 7, 31)
    assert "HIV test after breastfeeding" not in exposed  # breastfeeding has not ended
    unexposed = infant_plan(schedule_for("ZA"), DOB, False, {}, None)
    assert not [v for v in unexposed if v.kind == "infant_hiv_test"]
    assert {v.name for v in unexposed} == set(exposed) - {
        "PCR birth", "PCR 10 weeks", "PCR 6 months", "HIV antibody 18 months"}


def test_kenya_extra_measles_dose_at_6_months_only_for_exposed_infants():
    kenya = schedule_for("KE")
    exposed = due_dates(kenya, exposed=True)
    assert exposed["MR0"] == dt.date(2025, 7, 31)
    assert exposed["MR1"] == dt.date(2025, 10, 31)
    assert exposed["MR2"] == dt.date(2026, 7, 31)
    assert "MR0" not in due_dates(kenya, exposed=False)
    assert "Yellow fever" not in exposed  # only some counties: left out, see ke.yaml
    assert kenya.thresholds.lost_after_days == 30


def test_malawi_malaria_vaccine_and_measles():
    assert "Malaria1" not in due_dates(schedule_for("MW"))  # not national: only in its districts
    dates = due_dates(schedule_for("MW"), region="Mchinji")
    assert [dates[f"Malaria{i}"] for i in (1, 2, 3, 4)] == [
        dt.date(2025, 6, 30), dt.date(2025, 7, 31), dt.date(2025, 8, 31), dt.date(2026, 11, 30)]
    assert dates["MR1"] == dt.date(2025, 10, 31)
    assert dates["MR2"] == dt.date(2026, 4, 30)  # 15 months
    assert dates["IPV"] == dates["OPV3"] == dt.date(2025, 5, 9)


def test_uganda_has_yellow_fever_at_9_months():
    dates = due_dates(schedule_for("UG"))
    assert dates["Yellow fever"] == dates["MR1"] == dt.date(2025, 10, 31)
    assert dates["DPT-HepB-Hib3"] == dt.date(2025, 5, 9)
    assert dates["MR2"] == dt.date(2026, 7, 31)


def test_zambia_rota_at_6_and_10_weeks_four_opv_doses_and_ipv():
    dates = due_dates(schedule_for("ZM"))
    assert dates["Rota1"] == dt.date(2025, 3, 14) and dates["Rota2"] == dt.date(2025, 4, 11)
    assert "Rota3" not in dates
    assert "OPV4" not in dates  # OPV at birth, 6, 10 and 14 weeks only (2025 calendar)
    assert dates["IPV"] == dates["OPV3"] == dt.date(2025, 5, 9)
    assert dates["MR1"] == dt.date(2025, 10, 31)
    assert dates["MR2"] == dt.date(2026, 7, 31)


@pytest.mark.parametrize("code", ["ZA", "MW", "UG", "ZM", "LS"])
def test_art_thresholds_default_to_28_and_90_days(code):
    thresholds = schedule_for(code).thresholds
    assert (thresholds.late_after_days, thresholds.interruption_after_days, thresholds.lost_after_days) == (1, 28, 90)


def test_reminder_rules():
    rules = load_reminder_rules()
    assert set(APPOINTMENT_KINDS) == set(models.APPOINTMENT_KINDS)
    assert set(rules.by_kind) == set(models.APPOINTMENT_KINDS)
    art = rules.for_kind("art_refill")
    assert [(r.days, r.only_if_missed) for r in art] == [(-3, False), (-1, False), (1, True)]
    for kind in ("infant_hiv_test", "immunisation"):
        assert [(r.days, r.only_if_missed) for r in rules.for_kind(kind)] == [(-2, False), (0, False)]
    assert all(r.stale_after_hours >= 1 for k in APPOINTMENT_KINDS for r in rules.for_kind(k))
    assert (rules.window_start, rules.window_end) == (dt.time(8), dt.time(19))
    assert (rules.window_start_hour, rules.window_end_hour) == (8, 19)
    assert rules.max_days_after == 1
    assert rules.for_kind("no_such_kind") == ()
