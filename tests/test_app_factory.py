"""``create_app`` checks menus, their actions and the effect handlers at start-up, not on a first request."""
from __future__ import annotations

import pytest

import menus
from gateway import create_app
from gateway.ussd import effects


def test_a_menu_action_without_a_handler_stops_the_start(settings, monkeypatch):
    handlers = dict(effects.HANDLERS)
    del handlers[("client", "record_pickup")]
    monkeypatch.setattr(effects, "HANDLERS", handlers)
    with pytest.raises(menus.MenuError) as refused:
        create_app(settings)
    assert "menus/client.yaml: the action 'record_pickup' has no handler" in str(refused.value)


def test_a_handler_for_an_action_no_menu_knows_stops_the_start(settings, monkeypatch):
    monkeypatch.setattr(effects, "HANDLERS", {**effects.HANDLERS, ("client", "send_flowers"): lambda e, c: ("x", 1)})
    with pytest.raises(menus.MenuError) as refused:
        create_app(settings)
    assert "HANDLERS names the action 'send_flowers'" in str(refused.value)


def test_a_broken_menu_stops_the_start(settings, monkeypatch):
    monkeypatch.setattr(menus, "load_all", lambda limits: (_ for _ in ()).throw(menus.MenuError(["client.yaml:3: oops"])))
    with pytest.raises(menus.MenuError, match="client.yaml:3: oops"):
        create_app(settings)


def test_the_menus_are_read_when_the_app_is_made(settings):
    app = create_app(settings)
    assert set(app.extensions["ussd_menus"]) == {"client", "coordinator", "unknown"}


def test_importing_the_database_adapter_leaves_other_engines_alone():
    import sqlalchemy as sa

    from gateway.adapters import database

    engine = sa.create_engine("sqlite://")
    assert not sa.event.contains(engine, "before_cursor_execute", database._sent)
    assert not sa.event.contains(engine, "connect", database._sqlite_pragmas)
