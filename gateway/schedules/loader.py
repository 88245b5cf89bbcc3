"""Loading and validating the schedule data files in ``gateway/schedules/data``.

One YAML file per country (``za.yaml``, ``ke.yaml``...) plus ``default.yaml``
(the WHO default, for any country without its own file), and
``reminder_rules.yaml``. The format is described for programme officers in
docs/schedules.md.

Everything is checked when a file is loaded, and every problem is reported
with its file and line (``za.yaml:42: dose 'OPV2': after names unknown dose
'OPV9'``) in one ``ScheduleError``, so a corrected file either loads whole or
not at all. Values are read from the YAML text as written (``yaml.compose``),
not through YAML's own typing, so ``19:00`` or a country code like ``NO`` mean
what they look like.
"""
from __future__ import annotations

import dataclasses

import datetime as dt
import functools
import re
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from gateway.schedules.dates import Offset

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT = "default"  # the WHO default schedule's file stem and country key
RULES_FILE = "reminder_rules.yaml"

DOSE_KINDS = ("immunisation", "infant_hiv_test")
# Appointment kinds with reminder rules; the same as gateway.core.models.APPOINTMENT_KINDS
# (a test checks it; this layer does not import the database models).
APPOINTMENT_KINDS = ("art_refill", "infant_hiv_test", "immunisation")


class ScheduleError(ValueError):
    """A data file is wrong. The message has one ``file:line: problem`` line per problem."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = list(errors)


@dataclass(frozen=True)
class ArtThresholds:
    """ART status by whole days late (today - due date): each status from that many days on."""

    late_after_days: int  # 1: late from the day after the due date
    interruption_after_days: int  # 28: interruption in treatment (PEPFAR)
    lost_after_days: int  # 90: lost to follow-up (TIER.Net); KenyaEMR uses 30


@dataclass(frozen=True)
class After:
    """A minimum interval after an earlier dose, applied once that dose is recorded as given."""

    dose: str
    interval: Offset


@dataclass(frozen=True)
class Dose:
    """One immunisation or infant HIV test of a country's schedule.

    Its due date is the latest of the anchors that are known: birth + ``due``;
    the date ``after.dose`` was given + ``after.interval``; the end of
    breastfeeding + ``after_breastfeeding_stops``. A dose without ``due`` is
    only planned once breastfeeding has ended.
    """

    name: str
    kind: str  # "immunisation" | "infant_hiv_test"
    due: Offset | None  # age from birth; None: only after breastfeeding stops
    hiv_exposed_only: bool = False
    after: After | None = None
    after_breastfeeding_stops: Offset | None = None
    # Where the line comes from: ids from the file's ``sources``, or a "not verifiable: ..." note.
    source: str | None = None
    # Only in these regions of the country (a site's region); empty: everywhere.
    regions: tuple[str, ...] = ()

    def applies_in(self, region: str | None) -> bool:
        """Whether a child whose family's site is in ``region`` is given this dose (None: no region known)."""
        return not self.regions or region in self.regions


@dataclass(frozen=True)
class CountrySchedule:
    """A country's infant schedule, ART thresholds and the documents they come from."""

    country: str  # ISO 3166-1 alpha-2 (upper case), or "default" for the WHO default
    name: str
    sources: tuple[str, ...]
    thresholds: ArtThresholds
    doses: tuple[Dose, ...]  # in file order; an ``after`` always names an earlier dose
    regions: tuple[str, ...] = ()  # the country's regions (districts, counties) a site may be in
    # An indeterminate infant HIV test is repeated this many days after it was taken
    # (``infant_test_repeat`` in the file; a country without one takes the WHO default's).
    repeat_after_days: int | None = None
    repeat_source: str | None = None

    def region_named(self, name: str | None) -> str | None:
        """The region called ``name`` as the file spells it (any case, spaces trimmed); None if it has none."""
        wanted = " ".join((name or "").split()).casefold()
        return next((region for region in self.regions if region.casefold() == wanted), None)

    def dose(self, name: str) -> Dose:
        """The dose called ``name``; KeyError if the schedule has none."""
        for dose in self.doses:
            if dose.name == name:
                return dose
        raise KeyError(name)


@dataclass(frozen=True)
class ReminderRule:
    """One reminder for an appointment, ``days`` from its due date (negative = before)."""

    days: int
    only_if_missed: bool  # after the due date: only while the visit is still not done
    stale_after_hours: int  # not sent within this many hours of its moment: skipped, never late


@dataclass(frozen=True)
class ReminderRules:
    """The reminder rules per appointment kind, and the default send window (local time)."""

    window_start: dt.time  # earliest local send time (inclusive)
    window_end: dt.time  # local time by which sending stops (exclusive)
    by_kind: Mapping[str, tuple[ReminderRule, ...]]
    # Days after a child's missed dose or test before her Mentor Mother gets a follow-up task.
    infant_visit_grace_days: int = 14
    # Ages at which a Mentor Mother asks whether an HIV-exposed child still breastfeeds (until its end is known).
    feeding_question_ages: tuple[Offset, ...] = ()

    @property
    def window_start_hour(self) -> int:
        return self.window_start.hour

    @property
    def window_end_hour(self) -> int:
        return self.window_end.hour

    def for_kind(self, kind: str) -> tuple[ReminderRule, ...]:
        """The rules of one appointment kind (empty for an unknown kind)."""
        return self.by_kind.get(kind, ())

    @property
    def max_days_after(self) -> int:
        """The furthest any rule reaches past a due date (0 if none does)."""
        return max([0, *(rule.days for rules in self.by_kind.values() for rule in rules)])


# --- reading YAML nodes, collecting errors ---------------------------------------------------------

class LineReader:
    """Reads one file's YAML nodes into typed values, noting each problem with its line."""

    def __init__(self, path: Path):
        self.name = path.name
        self.errors: list[str] = []

    def error(self, node: Node | None, message: str) -> None:
        line = f":{node.start_mark.line + 1}" if node is not None else ""
        self.errors.append(f"{self.name}{line}: {message}")

    def root(self, path: Path) -> Node | None:
        try:
            node = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            where = f":{mark.line + 1}" if mark else ""
            self.errors.append(f"{self.name}{where}: not valid YAML: {exc.problem or exc.context}")
            return None
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            self.errors.append(f"{self.name}: not readable YAML: {exc}")
            return None
        if node is None:
            self.errors.append(f"{self.name}: the file is empty")
        return node

    def mapping(self, node: Node, what: str, required: tuple[str, ...],
                optional: tuple[str, ...] = ()) -> dict[str, Node] | None:
        """The keys of a mapping: unknown, repeated and missing keys are errors."""
        if not isinstance(node, MappingNode):
            self.error(node, f"{what}: expected keys ({', '.join(required + optional)})")
            return None
        found: dict[str, Node] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, ScalarNode) else None
            if key in found:
                self.error(key_node, f"{what}: '{key}' is given twice")
            elif key not in required + optional:
                self.error(key_node, f"{what}: unknown key '{key}' (expected: {', '.join(required + optional)})")
            else:
                found[key] = value_node
        for key in required:
            if key not in found:
                self.error(node, f"{what}: missing required key '{key}'")
        return found

    def sequence(self, node: Node, what: str) -> list[Node]:
        if not isinstance(node, SequenceNode) or not node.value:
            self.error(node, f"{what}: expected a list of one or more items (lines starting with '- ')")
            return []
        return list(node.value)

    def text(self, node: Node, what: str) -> str | None:
        if not isinstance(node, ScalarNode) or not node.value.strip():
            self.error(node, f"{what}: expected some text")
            return None
        return node.value.strip()

    def integer(self, node: Node, what: str, minimum: int | None = None) -> int | None:
        raw = node.value.strip() if isinstance(node, ScalarNode) else ""
        if not re.fullmatch(r"[+-]?\d+", raw):
            self.error(node, f"{what}: expected a whole number, not {raw or 'nothing'!r}")
            return None
        value = int(raw)
        if minimum is not None and value < minimum:
            self.error(node, f"{what}: must be at least {minimum}, not {value}")
            return None
        return value

    def boolean(self, node: Node, what: str) -> bool | None:
        raw = node.value.strip().lower() if isinstance(node, ScalarNode) else ""
        if raw not in ("true", "false"):
            self.error(node, f"{what}: expected true or false, not {raw or 'nothing'!r}")
            return None
        return raw == "true"

    def offset(self, node: Node, what: str, allow_negative: bool = False) -> Offset | None:
        raw = node.value if isinstance(node, ScalarNode) else ""
        try:
            offset = Offset.parse(raw)
        except ValueError as exc:
            self.error(node, f"{what}: {exc}")
            return None
        if offset.negative and not allow_negative:
            self.error(node, f"{what}: must not be negative ({raw})")
            return None
        return offset

    def time(self, node: Node, what: str) -> dt.time | None:
        raw = node.value.strip() if isinstance(node, ScalarNode) else ""
        match = re.fullmatch(r"(\d{1,2}):00", raw)
        if match is None or int(match.group(1)) > 23:
            # Whole hours only: a client's preferred time is an hour of the day.
            self.error(node, f"{what}: expected a whole hour from \"00:00\" to \"23:00\", not {raw or 'nothing'!r}")
            return None
        return dt.time(int(match.group(1)))


# --- country schedules -------------------------------------------------------------------------------

_TOP_KEYS = ("country", "name", "sources", "art_status", "doses")
_TOP_OPTIONAL = ("regions", "infant_test_repeat")
_REPEAT_KEYS = ("repeat_after_days", "source")
_THRESHOLD_KEYS = ("late_after_days", "interruption_after_days", "lost_after_days")
_DOSE_KEYS = ("name", "kind")
_DOSE_OPTIONAL = ("due", "hiv_exposed_only", "after", "after_breastfeeding_stops", "source", "regions")
# A line whose age could not be checked against a national document says so in its `source`.
NOT_VERIFIABLE = "not verifiable"


def load_schedule_file(path: Path) -> CountrySchedule:
    """Load and check one country file. Raises ScheduleError listing every problem."""
    reader = LineReader(path)
    schedule = _read_schedule(reader, path)
    if reader.errors or schedule is None:
        raise ScheduleError(reader.errors)
    return schedule


def _read_schedule(reader: LineReader, path: Path) -> CountrySchedule | None:
    root = reader.root(path)
    if root is None:
        return None
    top = reader.mapping(root, "schedule", _TOP_KEYS, _TOP_OPTIONAL)
    if top is None:
        return None
    expected = DEFAULT if path.stem.lower() == DEFAULT else path.stem.upper()
    country = reader.text(top["country"], "country") if "country" in top else None
    if country is not None and country.upper() != expected.upper():
        reader.error(top["country"], f"country '{country}' does not match the file name (expected '{expected}')")
    name = reader.text(top["name"], "name") if "name" in top else None
    sources: list[str] = []
    source_ids: dict[str, str] | None = None  # id -> text, when the sources are given by id
    if "sources" in top:
        if isinstance(top["sources"], MappingNode):
            source_ids = {}
            for key_node, value_node in top["sources"].value:
                key = reader.text(key_node, "sources")
                text = reader.text(value_node, f"sources: {key}")
                if key is None or text is None:
                    continue
                if key in source_ids:
                    reader.error(key_node, f"sources: '{key}' is given twice")
                source_ids[key] = text
                sources.append(f"{key}: {text}")
        else:
            for item in reader.sequence(top["sources"], "sources"):
                source = reader.text(item, "sources")
                if source:
                    sources.append(source)
    regions = _read_regions(reader, top["regions"]) if "regions" in top else {}
    thresholds = _read_thresholds(reader, top["art_status"]) if "art_status" in top else None
    doses = _read_doses(reader, top["doses"], source_ids, regions) if "doses" in top else []
    repeat_days = repeat_source = None
    if "infant_test_repeat" in top:
        keys = reader.mapping(top["infant_test_repeat"], "infant_test_repeat", _REPEAT_KEYS)
        if keys is not None:
            repeat_days = reader.integer(keys["repeat_after_days"], "infant_test_repeat: repeat_after_days", minimum=1)
            repeat_source = reader.text(keys["source"], "infant_test_repeat: source")
    elif expected == DEFAULT:
        reader.error(root, "infant_test_repeat: the WHO default must say when an indeterminate infant test is repeated")
    if reader.errors or thresholds is None or name is None:
        return None
    return CountrySchedule(expected, name, tuple(sources), thresholds, tuple(doses), tuple(regions), repeat_days,
                           repeat_source)


def _read_regions(reader: LineReader, node: Node) -> dict[str, int]:
    """The country's regions, each with its line; a name given twice (in any case) is an error."""
    regions: dict[str, int] = {}
    seen: dict[str, int] = {}
    for item in reader.sequence(node, "regions"):
        name = reader.text(item, "regions")
        if name is None:
            continue
        name = " ".join(name.split())
        line = item.start_mark.line + 1
        if name.casefold() in seen:
            reader.error(item, f"regions: '{name}' is listed twice (first on line {seen[name.casefold()]})")
            continue
        seen[name.casefold()] = line
        regions[name] = line
    return regions


def _read_source(reader: LineReader, node: Node, label: str, source_ids: dict[str, str] | None) -> str | None:
    """A dose's ``source``: ids of the file's sources (``kepi, who-hiv-2021``) or a "not verifiable: ..." note."""
    text = reader.text(node, f"{label}: source")
    if text is None:
        return None
    if text.lower().startswith(NOT_VERIFIABLE):
        if not text[len(NOT_VERIFIABLE):].strip(" :"):
            reader.error(node, f"{label}: source: say what was kept, e.g. \"{NOT_VERIFIABLE}: WHO default\"")
        return text
    if source_ids is None:
        return text  # sources given as a plain list: the text names its document itself
    ids = [part.strip() for part in text.split(",")]
    unknown = [part for part in ids if part not in source_ids]
    if unknown or not all(ids):
        reader.error(node, f"{label}: source: unknown source {', '.join(repr(u) for u in unknown) or repr(text)} "
                           f"(expected ids from 'sources': {', '.join(source_ids) or 'none'}; "
                           f"or \"{NOT_VERIFIABLE}: ...\")")
        return None
    return text


def _read_dose_regions(reader: LineReader, node: Node, label: str, regions: dict[str, int]) -> tuple[str, ...]:
    """The regions a dose is limited to: each must be one of the file's ``regions``, spelled the same."""
    names: list[str] = []
    for item in reader.sequence(node, f"{label}: regions"):
        name = reader.text(item, f"{label}: regions")
        if name is None:
            continue
        name = " ".join(name.split())
        if not regions:
            reader.error(item, f"{label}: regions: this file has no 'regions:' list; add one naming "
                               f"the country's regions first")
        elif name not in regions:
            close = [r for r in regions if r.casefold() == name.casefold()]
            hint = f"; did you mean '{close[0]}'?" if close else ""
            reader.error(item, f"{label}: unknown region '{name}' (not in this file's 'regions:' list{hint})")
        elif name in names:
            reader.error(item, f"{label}: region '{name}' is listed twice")
        else:
            names.append(name)
    return tuple(names)


def _read_thresholds(reader: LineReader, node: Node) -> ArtThresholds | None:
    keys = reader.mapping(node, "art_status", _THRESHOLD_KEYS)
    if keys is None:
        return None
    values = {k: reader.integer(keys[k], f"art_status: {k}", minimum=1) for k in _THRESHOLD_KEYS if k in keys}
    if len(values) < 3 or None in values.values():
        return None
    thresholds = ArtThresholds(**values)  # type: ignore[arg-type]
    if not thresholds.late_after_days < thresholds.interruption_after_days <= thresholds.lost_after_days:
        reader.error(node, "art_status: expected late_after_days < interruption_after_days <= lost_after_days")
        return None
    return thresholds


def _read_doses(reader: LineReader, node: Node, source_ids: dict[str, str] | None = None,
                regions: dict[str, int] | None = None) -> list[Dose]:
    doses: list[Dose] = []
    position: dict[str, int] = {}  # dose name -> index in the file, for `after`
    name_lines: dict[str, int] = {}
    afters: list[tuple[int, str, Node]] = []  # (index, label, node naming the earlier dose)
    for index, item in enumerate(reader.sequence(node, "doses")):
        label = _dose_label(item, index)
        keys = reader.mapping(item, label, _DOSE_KEYS, _DOSE_OPTIONAL)
        if keys is None:
            continue
        name = reader.text(keys["name"], label) if "name" in keys else None
        if name is not None:
            if name in position:
                reader.error(keys["name"], f"{label}: the name is used twice (first on line {name_lines[name]})")
            else:
                position[name] = index
                name_lines[name] = keys["name"].start_mark.line + 1
        kind = reader.text(keys["kind"], f"{label}: kind") if "kind" in keys else None
        if kind is not None and kind not in DOSE_KINDS:
            reader.error(keys["kind"], f"{label}: unknown kind '{kind}' (expected: {', '.join(DOSE_KINDS)})")
        due = reader.offset(keys["due"], f"{label}: due") if "due" in keys else None
        exposed = reader.boolean(keys["hiv_exposed_only"], f"{label}: hiv_exposed_only") \
            if "hiv_exposed_only" in keys else False
        breastfeeding = (reader.offset(keys["after_breastfeeding_stops"], f"{label}: after_breastfeeding_stops")
                         if "after_breastfeeding_stops" in keys else None)
        if "due" not in keys and "after_breastfeeding_stops" not in keys:
            reader.error(item, f"{label}: needs 'due' (age from birth) or 'after_breastfeeding_stops' (or both)")
        if kind == "infant_hiv_test" and exposed is False:
            # HIV tests are for HIV-exposed infants only; a reminder about one
            # to any other family would be wrong and could disclose a status.
            reader.error(item, f"{label}: an infant_hiv_test must have hiv_exposed_only: true")
        after = None
        if "after" in keys:
            parts = reader.mapping(keys["after"], f"{label}: after", ("dose", "interval"))
            if parts is not None and "dose" in parts and "interval" in parts:
                earlier = reader.text(parts["dose"], f"{label}: after: dose")
                interval = reader.offset(parts["interval"], f"{label}: after: interval")
                if earlier is not None and interval is not None:
                    after = After(earlier, interval)
                    afters.append((index, label, parts["dose"]))
        source = _read_source(reader, keys["source"], label, source_ids) if "source" in keys else None
        limited = _read_dose_regions(reader, keys["regions"], label, regions or {}) if "regions" in keys else ()
        if name is not None and kind is not None:
            doses.append(Dose(name, kind, due, bool(exposed), after, breastfeeding, source, limited))
    for index, label, dose_node in afters:
        # An `after` must name a dose listed earlier: that rules out cycles and
        # keeps the file readable top to bottom.
        earlier = dose_node.value.strip()
        if earlier not in position:
            reader.error(dose_node, f"{label}: after names unknown dose '{earlier}'")
        elif position[earlier] == index:
            reader.error(dose_node, f"{label}: after names the dose itself")
        elif position[earlier] > index:
            reader.error(dose_node, f"{label}: after names dose '{earlier}', which comes later in the file "
                                    f"(line {name_lines[earlier]}); list '{earlier}' first")
    return doses


def _dose_label(item: Node, index: int) -> str:
    """How messages name a dose: by its name when it has one, else by its place in the list."""
    if isinstance(item, MappingNode):
        for key, value in item.value:
            if isinstance(key, ScalarNode) and key.value == "name" and isinstance(value, ScalarNode) \
                    and value.value.strip():
                return f"dose '{value.value.strip()}'"
    return f"dose #{index + 1}"


def load_schedules(directory: Path | str | None = None) -> dict[str, CountrySchedule]:
    """Every country file in ``directory`` (default: the package's data), keyed by country code.

    The WHO default is under ``"default"`` and must exist. Raises one
    ScheduleError listing the problems of every file.
    """
    folder = Path(directory) if directory is not None else DATA_DIR
    schedules: dict[str, CountrySchedule] = {}
    errors: list[str] = []
    for path in sorted(folder.glob("*.yaml")):
        if path.name == RULES_FILE:
            continue
        if path.stem.lower() != DEFAULT and not re.fullmatch(r"[a-z]{2}", path.stem):
            errors.append(f"{path.name}: a schedule file is named after its country's two-letter code "
                          f"in lower case (za.yaml), or default.yaml")
            continue
        try:
            schedule = load_schedule_file(path)
        except ScheduleError as exc:
            errors.extend(exc.errors)
        else:
            schedules[schedule.country] = schedule
    if not (folder / f"{DEFAULT}.yaml").is_file():
        errors.append(f"{DEFAULT}.yaml: missing: the WHO default schedule, used for every country "
                      f"without its own file, must exist in {folder}")
    if errors:
        raise ScheduleError(errors)
    default = schedules[DEFAULT]
    return {code: schedule if schedule.repeat_after_days else dataclasses.replace(
        schedule, repeat_after_days=default.repeat_after_days, repeat_source=default.repeat_source)
        for code, schedule in schedules.items()}


# --- reminder rules ----------------------------------------------------------------------------------

def load_reminder_rules(path: Path | str | None = None) -> ReminderRules:
    """The reminder rules file (default: the package's ``reminder_rules.yaml``). Raises ScheduleError."""
    file = Path(path) if path is not None else DATA_DIR / RULES_FILE
    if file.is_dir():
        file = file / RULES_FILE
    reader = LineReader(file)
    rules = _read_rules(reader, file)
    if reader.errors or rules is None:
        raise ScheduleError(reader.errors)
    return rules


def _read_rules(reader: LineReader, path: Path) -> ReminderRules | None:
    if not path.is_file():
        reader.errors.append(f"{path.name}: missing (looked in {path.parent})")
        return None
    root = reader.root(path)
    if root is None:
        return None
    top = reader.mapping(root, "reminder rules", ("send_window", "appointments"), ("follow_up",))
    if top is None:
        return None
    start = end = None
    if "send_window" in top:
        window = reader.mapping(top["send_window"], "send_window", ("start", "end"))
        if window:
            start = reader.time(window["start"], "send_window: start") if "start" in window else None
            end = reader.time(window["end"], "send_window: end") if "end" in window else None
            if start is not None and end is not None and start >= end:
                reader.error(top["send_window"], "send_window: start must be before end")
    by_kind: dict[str, tuple[ReminderRule, ...]] = {}
    if "appointments" in top:
        kinds = reader.mapping(top["appointments"], "appointments", APPOINTMENT_KINDS)
        for kind, node in (kinds or {}).items():
            by_kind[kind] = tuple(_read_kind_rules(reader, kind, node))
    grace, ages = 14, ()
    if "follow_up" in top:
        follow = reader.mapping(top["follow_up"], "follow_up", ("infant_visit_grace_days", "feeding_question_ages"))
        if follow and "infant_visit_grace_days" in follow:
            grace = reader.integer(follow["infant_visit_grace_days"], "follow_up: infant_visit_grace_days", minimum=0)
        if follow and "feeding_question_ages" in follow:
            ages = tuple(a for a in (reader.offset(node, "follow_up: feeding_question_ages")
                                     for node in reader.sequence(follow["feeding_question_ages"],
                                                                 "follow_up: feeding_question_ages")) if a)
    if reader.errors or start is None or end is None:
        return None
    return ReminderRules(start, end, MappingProxyType(by_kind), grace, ages)


def _read_kind_rules(reader: LineReader, kind: str, node: Node) -> list[ReminderRule]:
    rules: list[ReminderRule] = []
    seen: set[int] = set()
    for item in reader.sequence(node, kind):
        keys = reader.mapping(item, kind, ("days", "stale_after_hours"), ("only_if_missed",))
        if not keys or "days" not in keys or "stale_after_hours" not in keys:
            continue
        days = reader.integer(keys["days"], f"{kind}: days")
        stale = reader.integer(keys["stale_after_hours"], f"{kind}: stale_after_hours", minimum=1)
        missed = reader.boolean(keys["only_if_missed"], f"{kind}: only_if_missed") \
            if "only_if_missed" in keys else False
        if days is None or stale is None or missed is None:
            continue
        label = f"{kind}: the rule for days {days}"
        if days in seen:
            reader.error(keys["days"], f"{label} is given twice")
        seen.add(days)
        # After the due date there is nothing to remind of unless the visit was missed.
        if days > 0 and not missed:
            reader.error(item, f"{label} (after the due date) needs only_if_missed: true")
        if days <= 0 and missed:
            reader.error(item, f"{label}: only_if_missed is for days after the due date (days > 0)")
        rules.append(ReminderRule(days, missed, stale))
    return sorted(rules, key=lambda r: r.days)


# --- the loaded data, once per process -----------------------------------------------------------------

@functools.cache
def _packaged_schedules() -> Mapping[str, CountrySchedule]:
    return MappingProxyType(load_schedules())


def all_schedules() -> Mapping[str, CountrySchedule]:
    """The package's country schedules (loaded once per process), keyed by country code and "default"."""
    return _packaged_schedules()


def schedule_for(country_code: str | None) -> CountrySchedule:
    """The schedule of ``country_code`` (ISO alpha-2, any case), else the WHO default."""
    schedules = _packaged_schedules()
    code = (country_code or "").strip().upper()
    return schedules.get(code) or schedules[DEFAULT]


@functools.cache
def reminder_rules() -> ReminderRules:
    """The package's reminder rules (loaded once per process)."""
    return load_reminder_rules()
