"""Every country the programme serves: each dose and test at its age, each line traced to its source,
region-limited lines only in their regions, and the loader's file:line errors for regions, kinds and sources."""
import datetime as dt
from pathlib import Path

import phonenumbers
import pytest

from gateway.core.countries import COUNTRIES
from gateway.schedules import ScheduleError, add_offset, all_schedules, infant_plan, load_schedule_file, schedule_for
from gateway.schedules.loader import NOT_VERIFIABLE

PROGRAMME = ("ZA", "KE", "MW", "UG", "ZM", "LS", "SZ", "MZ", "TZ", "AO")

# Three dates of birth: an ordinary one, the last day of a year, and a leap day.
DOBS = (dt.date(2025, 6, 15), dt.date(2024, 12, 31), dt.date(2024, 2, 29))

_WEEKS = {"6w": ("OPV1", "Penta1", "PCV1", "Rota1"), "10w": ("OPV2", "Penta2", "PCV2", "Rota2"),
          "14w": ("OPV3", "Penta3", "PCV3")}
_WHO_TESTS = {"PCR 6 weeks": "6w", "PCR 9 months": "9m", "Final HIV test": "18m"}


def _series(*names_by_age: tuple[str, tuple[str, ...]]) -> dict[str, str]:
    return {name: age for age, names in names_by_age for name in names}


# The ages as the sources give them (written out by hand, not read from the files): a change to a
# file must change this table too. Region-limited lines are checked with a region where they apply.
EXPECTED: dict[str, dict[str, str]] = {
    "ZA": {"BCG": "0d", "OPV0": "0d", "OPV1": "6w", "RV1": "6w", "Hexa1": "6w", "PCV1": "6w", "Hexa2": "10w",
           "RV2": "14w", "Hexa3": "14w", "PCV2": "14w", "MR1": "6m", "PCV3": "9m", "MR2": "12m", "Hexa4": "18m",
           "Td1": "6y", "Td2": "12y", "PCR birth": "0d", "PCR 10 weeks": "10w", "PCR 6 months": "6m",
           "HIV antibody 18 months": "18m"},
    "KE": {"BCG": "0d", "OPV0": "0d", **_series(*_WEEKS.items()), "IPV": "14w", "MR0": "6m", "MR1": "9m",
           "MR2": "18m", "Malaria1": "6m", "Malaria2": "7m", "Malaria3": "9m", "Malaria4": "24m", **_WHO_TESTS},
    "MW": {"BCG": "0d", "OPV0": "0d", **_series(*_WEEKS.items()), "IPV": "14w", "Malaria1": "5m",
           "Malaria2": "6m", "Malaria3": "7m", "MR1": "9m", "TCV": "9m", "MR2": "15m", "Malaria4": "22m",
           **_WHO_TESTS},
    "UG": {"BCG": "0d", "OPV0": "0d", "OPV1": "6w", "DPT-HepB-Hib1": "6w", "PCV1": "6w", "Rota1": "6w",
           "OPV2": "10w", "DPT-HepB-Hib2": "10w", "PCV2": "10w", "Rota2": "10w", "OPV3": "14w",
           "DPT-HepB-Hib3": "14w", "PCV3": "14w", "IPV": "14w", "Malaria1": "6m", "Malaria2": "7m",
           "Malaria3": "8m", "MR1": "9m", "Yellow fever": "9m", "MR2": "18m", "Malaria4": "18m", **_WHO_TESTS},
    "ZM": {"BCG": "0d", "OPV0": "0d", **_series(*_WEEKS.items()), "IPV": "14w", "MR1": "9m", "MR2": "18m",
           **_WHO_TESTS},
    "TZ": {"BCG": "0d", "OPV0": "0d", **_series(*_WEEKS.items()), "IPV": "14w", "MR1": "9m", "MR2": "18m",
           **_WHO_TESTS},
    "LS": {"BCG": "0d", "HepB0": "0d", "Penta1": "6w", "Penta2": "10w", "Penta3": "14w", "MR1": "9m",
           "MR2": "18m", "DTP4": "18m", **_WHO_TESTS},
    "SZ": {"BCG": "0d", "OPV0": "0d", **_series(*_WEEKS.items()), "MR1": "9m", "MR2": "18m", "DTP4": "18m",
           **_WHO_TESTS},
    "MZ": {"BCG": "0d", "OPV0": "0d", "OPV1": "6w", "Penta1": "6w", "OPV2": "10w", "Penta2": "10w",
           "OPV3": "14w", "Penta3": "14w", "MCV1": "9m", "MCV2": "18m", **_WHO_TESTS},
    "AO": {"BCG": "0d", "HepB0": "0d", "Penta1": "6w", "Penta2": "10w", "Penta3": "14w", "IPV": "4m",
           "MCV1": "9m", "MCV2": "18m", "DTP4": "18m", **_WHO_TESTS},
}
# Lines planned only once the end of breastfeeding is recorded (none has an age of its own).
AFTER_BREASTFEEDING_ONLY = {"ZA": {"HIV test after breastfeeding"}}
# A region where each country's region-limited lines apply.
REGION_WITH_ALL = {"KE": "Kisumu", "MW": "Mchinji", "UG": "Apac"}


def _plan(code, dob, region=None, exposed=True):
    return {v.name: v.due_date for v in infant_plan(schedule_for(code), dob, exposed, {}, None, region)}


def test_every_country_the_programme_serves_has_its_own_file_and_a_line_in_the_countries_table():
    assert set(PROGRAMME) <= set(all_schedules())
    for code in PROGRAMME:
        country = COUNTRIES[code]
        assert schedule_for(code).country == code
        assert country.calling_code == phonenumbers.country_code_for_region(code), code
        assert phonenumbers.example_number_for_type(code, phonenumbers.PhoneNumberType.MOBILE) is not None
    assert COUNTRIES["MZ"].language == COUNTRIES["AO"].language == "pt"
    assert COUNTRIES["LS"].timezone == "Africa/Maseru" and COUNTRIES["SZ"].timezone == "Africa/Mbabane"
    assert COUNTRIES["TZ"].timezone == "Africa/Dar_es_Salaam" and COUNTRIES["AO"].timezone == "Africa/Luanda"


@pytest.mark.parametrize("dob", DOBS, ids=str)
@pytest.mark.parametrize("code", PROGRAMME)
def test_each_dose_and_test_is_due_at_its_age(code, dob):
    plan = _plan(code, dob, REGION_WITH_ALL.get(code))
    expected = {name: add_offset(dob, age) for name, age in EXPECTED[code].items()}
    assert plan == expected
    schedule_names = {d.name for d in schedule_for(code).doses}
    assert schedule_names == set(EXPECTED[code]) | AFTER_BREASTFEEDING_ONLY.get(code, set())


@pytest.mark.parametrize("code,dob,name,date", [
    # the last day of a month: a later month without that day gives its own last day
    ("KE", dt.date(2024, 12, 31), "PCR 6 weeks", dt.date(2025, 2, 11)),
    ("KE", dt.date(2024, 12, 31), "Malaria2", dt.date(2025, 7, 31)),
    ("KE", dt.date(2024, 12, 31), "MR1", dt.date(2025, 9, 30)),
    ("MW", dt.date(2024, 12, 31), "Malaria1", dt.date(2025, 5, 31)),
    ("AO", dt.date(2024, 12, 31), "IPV", dt.date(2025, 4, 30)),
    ("TZ", dt.date(2024, 12, 31), "OPV3", dt.date(2025, 4, 8)),
    # a leap day: 28 February in years without one
    ("UG", dt.date(2024, 2, 29), "Malaria4", dt.date(2025, 8, 29)),
    ("LS", dt.date(2024, 2, 29), "Final HIV test", dt.date(2025, 8, 29)),
    ("ZM", dt.date(2024, 2, 29), "MR1", dt.date(2024, 11, 29)),
    ("SZ", dt.date(2024, 2, 29), "Rota2", dt.date(2024, 5, 9)),
    ("MZ", dt.date(2024, 2, 29), "MCV2", dt.date(2025, 8, 29)),
    ("ZA", dt.date(2024, 2, 29), "Td1", dt.date(2030, 2, 28)),
])
def test_month_ends_and_leap_days(code, dob, name, date):
    assert _plan(code, dob, REGION_WITH_ALL.get(code))[name] == date


def test_after_breastfeeding_tests():
    ended = dt.date(2026, 6, 1)
    tz = {v.name: v.due_date for v in infant_plan(schedule_for("TZ"), dt.date(2024, 12, 31), True, {}, ended)}
    assert tz["Final HIV test"] == dt.date(2026, 7, 13)  # 6 weeks after breastfeeding ends, later than 18 months
    ke = {v.name: v.due_date for v in infant_plan(schedule_for("KE"), dt.date(2024, 12, 31), True, {}, ended)}
    assert ke["Final HIV test"] == dt.date(2026, 9, 1)  # WHO default: 3 months after


@pytest.mark.parametrize("code", sorted(all_schedules()))
def test_every_line_is_traced_to_a_source_of_its_file(code):
    schedule = all_schedules()[code]
    ids = {text.split(":", 1)[0] for text in schedule.sources}
    for dose in schedule.doses:
        assert dose.source, (code, dose.name)
        if dose.source.lower().startswith(NOT_VERIFIABLE):
            assert "WHO default" in dose.source, (code, dose.name, dose.source)
        else:
            assert {part.strip() for part in dose.source.split(",")} <= ids, (code, dose.name, dose.source)


def test_no_hiv_test_or_exposed_only_dose_for_an_unexposed_child():
    for code in PROGRAMME:
        names = _plan(code, DOBS[0], REGION_WITH_ALL.get(code), exposed=False)
        assert not any("HIV" in n or "PCR" in n for n in names), code


@pytest.mark.parametrize("code,region", [("KE", "Kisumu"), ("MW", "Mchinji"), ("UG", "Apac")])
def test_region_limited_vaccines_only_where_they_are_given(code, region):
    with_region = _plan(code, DOBS[0], region)
    assert "Malaria1" in with_region
    assert "Malaria1" not in _plan(code, DOBS[0], None)  # no site region: national lines only
    if code == "KE":
        assert "Malaria1" not in _plan(code, DOBS[0], "Nairobi")
    national = {d.name for d in schedule_for(code).doses if not d.regions}
    assert national <= set(_plan(code, DOBS[0], None))


def test_region_names_are_matched_in_any_case():
    ke = schedule_for("KE")
    assert ke.region_named("  homa   bay ") == "Homa Bay"
    assert ke.region_named("Atlantis") is None and ke.region_named(None) is None
    assert schedule_for("TZ").region_named("Arusha") is None  # no regions in that file


# --- the loader's file:line errors ----------------------------------------------------------------------

GOOD = """\
country: KE
name: Kenya
sources:
  a: Document A
regions: [Kisumu, Siaya]
art_status: {late_after_days: 1, interruption_after_days: 28, lost_after_days: 90}
doses:
  - {name: BCG, kind: immunisation, due: 0d, source: a}
  - {name: Malaria1, kind: immunisation, due: 6m, source: a, regions: [Kisumu]}
"""


def _load(tmp_path: Path, text: str):
    path = tmp_path / "ke.yaml"
    path.write_text(text)
    return load_schedule_file(path)


def _errors(tmp_path, text):
    with pytest.raises(ScheduleError) as exc:
        _load(tmp_path, text)
    return exc.value.errors


def test_a_good_file_loads(tmp_path):
    schedule = _load(tmp_path, GOOD)
    assert schedule.regions == ("Kisumu", "Siaya")
    assert schedule.dose("Malaria1").regions == ("Kisumu",) and schedule.dose("BCG").regions == ()
    assert schedule.sources == ("a: Document A",)


def test_an_unknown_region_is_an_error_with_its_line(tmp_path):
    errors = _errors(tmp_path, GOOD.replace("regions: [Kisumu]}", "regions: [Kisumu, Nakuru]}"))
    assert errors == ["ke.yaml:9: dose 'Malaria1': unknown region 'Nakuru' (not in this file's 'regions:' list)"]
    errors = _errors(tmp_path, GOOD.replace("regions: [Kisumu]}", "regions: [kisumu]}"))
    assert errors[0].startswith("ke.yaml:9:") and "did you mean 'Kisumu'?" in errors[0]


def test_a_region_without_a_regions_list_is_an_error(tmp_path):
    errors = _errors(tmp_path, GOOD.replace("regions: [Kisumu, Siaya]\n", ""))
    assert len(errors) == 1 and errors[0].startswith("ke.yaml:8: dose 'Malaria1': regions: this file has no")


def test_a_region_listed_twice_is_an_error(tmp_path):
    errors = _errors(tmp_path, GOOD.replace("regions: [Kisumu, Siaya]", "regions:\n  - Kisumu\n  - KISUMU"))
    assert errors == ["ke.yaml:7: regions: 'KISUMU' is listed twice (first on line 6)"]


def test_an_unknown_kind_is_an_error_with_its_line(tmp_path):
    errors = _errors(tmp_path, GOOD.replace("name: BCG, kind: immunisation", "name: BCG, kind: vaccine"))
    assert errors == ["ke.yaml:8: dose 'BCG': unknown kind 'vaccine' (expected: immunisation, infant_hiv_test)"]


def test_an_unknown_source_is_an_error_with_its_line(tmp_path):
    errors = _errors(tmp_path, GOOD.replace("due: 0d, source: a}", "due: 0d, source: \"a, b\"}"))
    assert len(errors) == 1 and errors[0].startswith("ke.yaml:8: dose 'BCG': source: unknown source 'b'")
    errors = _errors(tmp_path, GOOD.replace("due: 0d, source: a}", "due: 0d, source: \"not verifiable\"}"))
    assert len(errors) == 1 and "say what was kept" in errors[0]


def test_the_packaged_files_load_at_start_up():
    # load_schedules() is what the app runs when it starts: every packaged file is valid.
    assert len(all_schedules()) >= len(PROGRAMME) + 1
