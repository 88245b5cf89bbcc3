"""Broken data files are refused at load time with errors naming the file and the line."""
import shutil
from pathlib import Path

import pytest

from gateway.schedules import ScheduleError, load_reminder_rules, load_schedule_file, load_schedules
from gateway.schedules.loader import DATA_DIR

GOOD = """\
country: ZA
name: Test country
sources:
  - A test document
art_status:
  late_after_days: 1
  interruption_after_days: 28
  lost_after_days: 90
doses:
  - name: OPV1
    kind: immunisation
    due: 6w
  - name: OPV2
    kind: immunisation
    due: 10w
    after: {dose: OPV1, interval: 4w}
  - name: PCR birth
    kind: infant_hiv_test
    due: 0d
    hiv_exposed_only: true
"""


def line_of(text: str, needle: str, occurrence: int = 1) -> int:
    """1-based number of the line holding the ``occurrence``-th ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), 1) if needle in line]
    return hits[occurrence - 1]


def load_za(tmp_path: Path, text: str) -> str:
    """Write ``text`` as za.yaml next to the real default.yaml, load the folder, return the error."""
    shutil.copy(DATA_DIR / "default.yaml", tmp_path / "default.yaml")
    (tmp_path / "za.yaml").write_text(text)
    with pytest.raises(ScheduleError) as caught:
        load_schedules(tmp_path)
    return str(caught.value)


def test_the_good_example_loads(tmp_path):
    shutil.copy(DATA_DIR / "default.yaml", tmp_path / "default.yaml")
    (tmp_path / "za.yaml").write_text(GOOD)
    schedules = load_schedules(tmp_path)
    assert schedules["ZA"].dose("OPV2").after.dose == "OPV1"
    assert set(schedules) == {"ZA", "default"}


def test_after_naming_an_unknown_dose(tmp_path):
    text = GOOD.replace("{dose: OPV1,", "{dose: OPV9,")
    message = load_za(tmp_path, text)
    assert message == f"za.yaml:{line_of(text, 'OPV9')}: dose 'OPV2': after names unknown dose 'OPV9'"


def test_after_naming_a_later_dose_or_itself(tmp_path):
    later = GOOD.replace("  - name: OPV1\n    kind: immunisation\n    due: 6w\n", "") + (
        "  - name: OPV1\n    kind: immunisation\n    due: 6w\n")
    message = load_za(tmp_path, later)
    assert f"za.yaml:{line_of(later, 'dose: OPV1')}: dose 'OPV2': after names dose 'OPV1', which comes later" in message
    itself = GOOD.replace("{dose: OPV1,", "{dose: OPV2,")
    assert "dose 'OPV2': after names the dose itself" in load_za(tmp_path, itself)


def test_unknown_key(tmp_path):
    text = GOOD.replace("    hiv_exposed_only: true", "    hiv_exposed: true")
    message = load_za(tmp_path, text)
    assert f"za.yaml:{line_of(text, 'hiv_exposed:')}: dose 'PCR birth': unknown key 'hiv_exposed'" in message


def test_bad_offset(tmp_path):
    text = GOOD.replace("due: 10w", "due: 10 weeks")
    message = load_za(tmp_path, text)
    assert f"za.yaml:{line_of(text, '10 weeks')}: dose 'OPV2': due: '10 weeks' is not an offset" in message


def test_negative_due_is_refused(tmp_path):
    text = GOOD.replace("due: 10w", "due: -10w")
    assert f"za.yaml:{line_of(text, '-10w')}: dose 'OPV2': due: must not be negative" in load_za(tmp_path, text)


def test_unknown_kind(tmp_path):
    text = GOOD.replace("kind: immunisation\n    due: 6w", "kind: vaccine\n    due: 6w")
    message = load_za(tmp_path, text)
    assert f"za.yaml:{line_of(text, 'vaccine')}: dose 'OPV1': unknown kind 'vaccine'" in message


def test_duplicate_dose_names(tmp_path):
    text = GOOD.replace("name: OPV2", "name: OPV1")
    message = load_za(tmp_path, text)
    assert (f"za.yaml:{line_of(text, 'name: OPV1', 2)}: dose 'OPV1': the name is used twice "
            f"(first on line {line_of(text, 'name: OPV1')})") in message


def test_missing_and_empty_sources(tmp_path):
    missing = GOOD.replace("sources:\n  - A test document\n", "")
    assert "za.yaml:1: schedule: missing required key 'sources'" in load_za(tmp_path, missing)
    empty = GOOD.replace("sources:\n  - A test document\n", "sources: []\n")
    assert f"za.yaml:{line_of(empty, 'sources')}: sources: expected a list" in load_za(tmp_path, empty)


def test_missing_required_dose_key(tmp_path):
    text = GOOD.replace("  - name: OPV2\n    kind: immunisation\n", "  - name: OPV2\n")
    assert f"za.yaml:{line_of(text, 'name: OPV2')}: dose 'OPV2': missing required key 'kind'" in load_za(tmp_path, text)


def test_a_dose_needs_an_anchor(tmp_path):
    text = GOOD.replace("    due: 6w\n", "")
    assert "dose 'OPV1': needs 'due' (age from birth) or 'after_breastfeeding_stops'" in load_za(tmp_path, text)


def test_hiv_tests_must_be_for_exposed_infants_only(tmp_path):
    text = GOOD.replace("    hiv_exposed_only: true\n", "")
    assert "dose 'PCR birth': an infant_hiv_test must have hiv_exposed_only: true" in load_za(tmp_path, text)


def test_bad_boolean(tmp_path):
    text = GOOD.replace("hiv_exposed_only: true", "hiv_exposed_only: yes please")
    assert (f"za.yaml:{line_of(text, 'yes please')}: dose 'PCR birth': hiv_exposed_only: expected true or false"
            in load_za(tmp_path, text))


def test_thresholds(tmp_path):
    text = GOOD.replace("lost_after_days: 90", "lost_after_days: 14")
    assert f"za.yaml:{line_of(text, 'late_after_days')}: art_status: expected late_after_days <" in load_za(tmp_path, text)
    text = GOOD.replace("lost_after_days: 90", "lost_after_days: ninety")
    assert f"za.yaml:{line_of(text, 'ninety')}: art_status: lost_after_days: expected a whole number" in load_za(tmp_path, text)


def test_country_must_match_the_file_name(tmp_path):
    text = GOOD.replace("country: ZA", "country: KE")
    assert "za.yaml:1: country 'KE' does not match the file name (expected 'ZA')" in load_za(tmp_path, text)


def test_repeated_top_level_key(tmp_path):
    text = GOOD + "name: Again\n"
    assert f"za.yaml:{line_of(text, 'Again')}: schedule: 'name' is given twice" in load_za(tmp_path, text)


def test_yaml_syntax_error_names_the_line(tmp_path):
    text = GOOD.replace("{dose: OPV1, interval: 4w}", "{dose: OPV1, interval: 4w")
    message = load_za(tmp_path, text)
    assert message.startswith("za.yaml:") and "not valid YAML" in message


def test_empty_file(tmp_path):
    assert load_za(tmp_path, "# nothing yet\n") == "za.yaml: the file is empty"


def test_every_problem_of_every_file_is_reported_at_once(tmp_path):
    shutil.copy(DATA_DIR / "default.yaml", tmp_path / "default.yaml")
    (tmp_path / "za.yaml").write_text(GOOD.replace("due: 6w", "due: 6x").replace("kind: infant_hiv_test", "kind: hiv"))
    (tmp_path / "ke.yaml").write_text(GOOD.replace("country: ZA", "country: KE").replace("{dose: OPV1,", "{dose: X,"))
    (tmp_path / "Kenya.yaml").write_text(GOOD)
    with pytest.raises(ScheduleError) as caught:
        load_schedules(tmp_path)
    errors = caught.value.errors
    assert len(errors) == 4
    assert any(e.startswith("za.yaml:") and "'6x' is not an offset" in e for e in errors)
    assert any(e.startswith("za.yaml:") and "unknown kind 'hiv'" in e for e in errors)
    assert any(e.startswith("ke.yaml:") and "unknown dose 'X'" in e for e in errors)
    assert any(e.startswith("Kenya.yaml:") and "two-letter code" in e for e in errors)


def test_the_default_file_must_exist(tmp_path):
    (tmp_path / "za.yaml").write_text(GOOD)
    with pytest.raises(ScheduleError, match="default.yaml: missing"):
        load_schedules(tmp_path)


def test_one_file_can_be_checked_alone(tmp_path):
    path = tmp_path / "za.yaml"
    path.write_text(GOOD)
    assert load_schedule_file(path).country == "ZA"


# --- reminder rules ---------------------------------------------------------------------------

RULES = """\
send_window:
  start: "08:00"
  end: 19:00
appointments:
  art_refill:
    - {days: -3, stale_after_hours: 8}
    - {days: 1, only_if_missed: true, stale_after_hours: 8}
  infant_hiv_test:
    - {days: -2, stale_after_hours: 8}
  immunisation:
    - {days: 0, stale_after_hours: 4}
"""


def load_rules(tmp_path: Path, text: str) -> str:
    (tmp_path / "reminder_rules.yaml").write_text(text)
    with pytest.raises(ScheduleError) as caught:
        load_reminder_rules(tmp_path)
    return str(caught.value)


def test_rules_load_with_an_unquoted_time(tmp_path):
    (tmp_path / "reminder_rules.yaml").write_text(RULES)
    rules = load_reminder_rules(tmp_path / "reminder_rules.yaml")
    assert rules.window_end_hour == 19  # YAML would read 19:00 as 1140; the loader reads what is written
    assert [r.days for r in rules.for_kind("art_refill")] == [-3, 1]


def test_rules_after_the_due_date_must_be_only_if_missed(tmp_path):
    text = RULES.replace("only_if_missed: true, ", "")
    assert (f"reminder_rules.yaml:{line_of(text, 'days: 1')}: art_refill: the rule for days 1 (after the due date) "
            "needs only_if_missed: true") in load_rules(tmp_path, text)


def test_rules_unknown_and_missing_kinds(tmp_path):
    text = RULES.replace("immunisation:", "vaccines:")
    message = load_rules(tmp_path, text)
    assert f"reminder_rules.yaml:{line_of(text, 'vaccines')}: appointments: unknown key 'vaccines'" in message
    assert "appointments: missing required key 'immunisation'" in message


def test_rules_bad_window_and_staleness(tmp_path):
    text = RULES.replace('"08:00"', '"8.30"').replace("stale_after_hours: 4", "stale_after_hours: 0")
    message = load_rules(tmp_path, text)
    assert f"reminder_rules.yaml:{line_of(text, '8.30')}: send_window: start: expected a whole hour" in message
    assert f"reminder_rules.yaml:{line_of(text, 'hours: 0')}: immunisation: stale_after_hours: must be at least 1" in message
    reversed_window = RULES.replace('"08:00"', '"20:00"')
    assert "send_window: start must be before end" in load_rules(tmp_path, reversed_window)


def test_rules_repeated_days(tmp_path):
    text = RULES.replace("{days: 1, only_if_missed: true,", "{days: -3,")
    assert "art_refill: the rule for days -3 is given twice" in load_rules(tmp_path, text)


def test_rules_file_missing(tmp_path):
    with pytest.raises(ScheduleError, match="reminder_rules.yaml: missing"):
        load_reminder_rules(tmp_path)
