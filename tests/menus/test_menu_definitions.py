"""Menu definitions are checked before use: targets, texts, actions, reachability, length and discretion."""
import copy

import pytest
import yaml

import menus
from menus import MenuError, check, load_menu, parse_menu
from menus.definitions import screen_texts


def good():
    """A small valid menu, as yaml.BaseLoader reads it (every value a text)."""
    return yaml.load("""
start: main
screens:
  main:
    type: choice
    title: ussd.client.main.title
    options:
      - {label: ussd.client.main.call, next: ask}
      - {label: ussd.client.main.collected, next: months}
  months:
    type: choice
    back: main
    options:
      - {key: 1, label: ussd.months.one, set: {months: 1}, next: done}
  done:
    type: end
    text: ussd.client.pickup.done
    effect: {action: record_pickup}
  ask:
    type: confirm
    text: ussd.client.call.confirm
    yes: asked
    no: main
  asked:
    type: end
    text: ussd.client.call.done
    effect: {action: request_callback}
""", Loader=yaml.BaseLoader)


def problems(data, limits=(160,)):
    try:
        return check(parse_menu("test", data), limits)
    except MenuError as exc:
        return exc.errors


def test_the_shipped_menus_pass_at_every_common_limit():
    loaded = menus.load_all(limits=(160, 182, 184))
    assert set(loaded) == {"client", "coordinator", "unknown"}
    for menu in loaded.values():
        assert check(menu, (140, 160, 182, 184)) == []


def test_the_small_menu_passes():
    assert problems(good()) == []


def broken(edit):
    data = good()
    edit(data)
    return problems(data)


@pytest.mark.parametrize("edit,expected", [
    (lambda d: d.update(start="nowhere"), "start screen 'nowhere' does not exist"),
    (lambda d: d["screens"]["ask"].update(yes="gone"), "yes leads to 'gone', which does not exist"),
    (lambda d: d["screens"]["main"]["options"][0].update(next="gone"), "1 leads to 'gone'"),
    (lambda d: d["screens"]["main"].update(title="ussd.no.such.key"), "'ussd.no.such.key' is not in the English"),
    (lambda d: d["screens"]["done"].update(effect={"action": "launch_rocket"}), "unknown action 'launch_rocket'"),
    (lambda d: d["screens"]["months"]["options"][0].update(set={}), "needs the answer 'months', and no screen sets"),
    (lambda d: d["screens"]["months"]["options"][0].update(key="98"), "must be a number from 1 to 97"),
    (lambda d: d["screens"]["months"]["options"][0].update(key="0"), "must be a number from 1 to 97"),
    (lambda d: d["screens"]["main"]["options"][1].update(key="1"), "option key '1' is used twice"),
    (lambda d: d["screens"]["main"]["options"][0].update(when="rich"), "unknown flag 'rich'"),
    (lambda d: d["screens"].update(orphan={"type": "end", "text": "ussd.unknown.bye"}),
     "screen orphan: cannot be reached"),
    (lambda d: d["screens"]["ask"].pop("no"), "needs both 'yes' and 'no'"),
    (lambda d: d["screens"].update(x={"type": "input", "prompt": "ussd.pin.prompt", "validate": "astrology",
                                      "store": "sign", "next": "main"}), "validate must be one of"),
    (lambda d: d["screens"].update(x={"type": "list", "title": "ussd.client.visits.title", "source": "gossip",
                                      "empty": "ussd.client.visits.none"}), "source must be one of"),
    (lambda d: d["screens"]["asked"].update(text="ussd.client.language.done"),
     "uses {lang}, which is neither an answer nor derived"),
    (lambda d: d["screens"]["main"].update(colour="red"), "unknown field 'colour'"),
    (lambda d: d["screens"]["main"].update(type="carousel"), "type must be one of"),
    (lambda d: d["screens"]["ask"].update(pin="maybe"), "'pin' must be true or false"),
    (lambda d: d["screens"].update(_pin={"type": "end", "text": "ussd.unknown.bye"}), "kept for the built-in PIN"),
    (lambda d: d.update(pin="sometimes"), "pin must be optional or required"),
    (lambda d: d["screens"]["done"].update(effect={"action": "record_pickup", "months": "12"}),
     "effect field 'months' is an answer"),
])
def test_broken_definitions_are_refused_with_a_reason(edit, expected):
    found = broken(edit)
    assert any(expected in line for line in found), found


def test_every_problem_is_reported_at_once():
    data = good()
    data["start"] = "nowhere"
    data["screens"]["ask"]["yes"] = "gone"
    data["screens"]["done"]["effect"] = {"action": "launch_rocket"}
    assert len(problems(data)) >= 3


def test_a_screen_too_long_for_the_limit_is_refused():
    data = good()
    # The enrolment consent is the longest title: it cannot sit above two options on a 100-character screen.
    data["screens"]["main"]["title"] = "ussd.unknown.consent.confirm"
    found = problems(data, limits=(100,))
    assert any("over the limit of 100" in line and "screen main" in line for line in found), found
    assert problems(data, limits=(300,)) == []


def test_a_screen_that_discloses_before_the_pin_is_refused():
    data = good()
    data["screens"]["asked"]["text"] = "sms.explicit.label.infant_hiv_test"  # "your baby's HIV test"
    found = problems(data)
    assert any("shown before a PIN but names HIV" in line for line in found), found


def test_behind_a_required_pin_the_same_words_are_allowed():
    data = good()
    data["pin"] = "required"
    data["screens"]["asked"]["text"] = "sms.explicit.label.infant_hiv_test"
    assert problems(data) == []


def test_no_menu_screen_names_hiv_before_the_pin_in_any_language():
    for name in ("client", "unknown"):
        menu = menus.get(name)
        for lang in ("en", "pt", "sw", "ny", "st", "zu"):
            for where, text, before_pin in screen_texts(menu, lang, 160):
                if before_pin:
                    assert menus.engine.i18n.disclosing_words(text) == [], where


def test_load_menu_reads_yaml_words_as_words(tmp_path):
    # "no" and "yes" are screen names here, not YAML 1.1 booleans.
    path = tmp_path / "words.yaml"
    path.write_text("""
start: main
screens:
  main: {type: confirm, text: ussd.client.call.confirm, yes: yes, no: no}
  yes: {type: end, text: ussd.client.call.done}
  no: {type: end, text: ussd.unknown.bye}
""")
    menu = load_menu(path)
    assert menu.screens["main"].yes == "yes" and menu.screens["main"].no == "no"


def test_load_menu_reports_unreadable_files(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("start: [unclosed")
    with pytest.raises(MenuError, match="cannot be read"):
        load_menu(path)
    path.write_text("- just a list")
    with pytest.raises(MenuError, match="must be a mapping"):
        load_menu(path)


def test_load_all_fails_at_start_up_on_an_impossible_limit():
    with pytest.raises(MenuError) as info:
        menus.load_all(limits=(60,))
    assert any("over the limit of 60" in line for line in info.value.errors)


def test_static_menus_fit_one_page_at_160_in_every_language():
    # Paging works, but the first screens should not need it on the strictest common network.
    for name in menus.MENU_NAMES:
        for lang in ("en", "pt", "sw", "ny", "st", "zu"):
            rows = screen_texts(menus.get(name), lang, 160)
            # Lists of lines page; so does the list of every known language (11), shown whole only by the checks.
            assert not [w for w, _, _ in rows if "page 2" in w and "screen visits" not in w
                        and "screen lookup" not in w and "screen callbacks" not in w and "language" not in w], \
                (name, lang)


def test_every_action_the_adapter_implements_is_known():
    assert dict(menus.ACTIONS) == {
        "record_pickup": ("months",), "record_pickup_booked": ("months", "next_visit"),
            "register_baby": ("date_of_birth",), "breastfeeding_ended": ("stopped_on",), "breastfeeding_ended_today": (), "set_language": ("lang",),
        "set_reminder_time": ("slot",), "opt_out": (), "opt_in": (), "set_pin": ("pin",),
        "request_callback": (), "request_enrolment": (),
        "enrol_client": ("phone", "programme", "date", "language", "hiv_status"),
        "close_client": ("phone", "reason"), "record_test_result": ("phone", "date_of_birth", "date", "result"),
    }
    used = {s.effect["action"] for name in menus.MENU_NAMES for s in menus.get(name).screens.values() if s.effect}
    assert used == set(menus.ACTIONS)


def test_good_stays_untouched_by_checks():
    data = good()
    before = copy.deepcopy(data)
    problems(data)
    assert data == before


def test_a_limit_below_any_network_is_a_problem_not_a_crash():
    assert menus.check(menus.get("unknown"), (30,)) == [
        "unknown: a screen limit of 30 is below 40, where no menu is usable"]


def test_outcome_texts_fit_a_screen_in_every_language():
    from gateway import i18n

    for lang in ("en", "pt", "sw", "ny", "st", "zu"):
        for key in [k for k in i18n.keys() if k.startswith("ussd.outcome.")] + ["ussd.failed"]:
            assert len(i18n.render(key, lang, phone="+" + "9" * 15)) + 4 <= 140, (lang, key)
