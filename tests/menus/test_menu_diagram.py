"""docs/ussd-menus.md is generated from the definitions: the committed file must be a fresh generation."""
from menus import diagram


def test_committed_diagram_is_fresh():
    assert diagram.DOC.read_text(encoding="utf-8") == diagram.document(), \
        "docs/ussd-menus.md is out of date: run `python -m menus.diagram`"


def test_every_screen_and_action_is_drawn():
    import menus

    text = diagram.document()
    for name in menus.MENU_NAMES:
        for sid in menus.get(name).screens:
            assert f"    {name}_{sid}" in text
    for action in menus.ACTIONS:
        assert f"effect: {action}(" in text


def test_check_mode_reports_staleness(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "ussd-menus.md"
    stale.write_text("old")
    monkeypatch.setattr(diagram, "DOC", stale)
    assert diagram.main(["--check"]) == 1
    assert diagram.main([]) == 0 and stale.read_text() == diagram.document()
    assert diagram.main(["--check"]) == 0
