"""The import rules that `lint-imports` (.importlinter) cannot say on its own.

`make test` runs `lint-imports` first; it checks the layers, the pure menus, that
the domain never imports `jobs`, and that there is no import cycle. Two rules
need this file:

- Flask's ``request`` is a name inside ``flask``, which import-linter cannot
  forbid by itself (the domain may use ``current_app``). So the source is read here.
- A new package under gateway/ must be placed in .importlinter's layers (and, for
  the domain, in the contract that keeps it away from ``jobs``); else no rule
  would cover it.
"""
from __future__ import annotations

import ast
import configparser
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# The web skin and CLI: the one place that reads requests and may call jobs.
INTERFACES = ROOT / "gateway" / "interfaces"


def _domain_sources() -> list[Path]:
    """Every module of the gateway but its web skin, and the queue verbs in jobs/."""
    files = [p for p in (ROOT / "gateway").rglob("*.py") if INTERFACES not in p.parents]
    return sorted(files + list((ROOT / "jobs").rglob("*.py")))


def request_imports(source: str) -> list[int]:
    """Line numbers where ``source`` imports or reaches Flask's ``request``."""
    tree = ast.parse(source)
    flask_names: set[str] = set()  # names bound to the flask module (``import flask as f``)
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("flask", "flask.globals"):
            lines += [node.lineno for alias in node.names if alias.name == "request"]
        elif isinstance(node, ast.Import):
            flask_names |= {alias.asname or alias.name for alias in node.names if alias.name == "flask"}
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr == "request"
                and isinstance(node.value, ast.Name) and node.value.id in flask_names):
            lines.append(node.lineno)
    return sorted(lines)


def test_the_check_sees_every_way_of_reaching_flask_request():
    assert request_imports("from flask import request\n") == [1]
    assert request_imports("from flask import current_app, request as r\n") == [1]
    assert request_imports("from flask.globals import request\n") == [1]
    assert request_imports("import flask\n\ndef f():\n    return flask.request.path\n") == [4]
    assert request_imports("import flask as f\nx = f.request\n") == [2]
    assert request_imports("from flask import current_app\nrequest = None\nrequests = 1\n") == []
    assert request_imports("import requests\nrequests.get('x')\n") == []


def test_the_domain_never_reads_flask_request():
    offenders = [f"{path.relative_to(ROOT)}:{line}"
                 for path in _domain_sources()
                 for line in request_imports(path.read_text(encoding="utf-8"))]
    assert offenders == [], (
        "the domain reads Flask's request; parse input in gateway/interfaces and pass plain values: "
        + ", ".join(offenders))


def _contracts() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    assert config.read(ROOT / ".importlinter"), ".importlinter is missing"
    return config


def _listed(config: configparser.ConfigParser, contract: str, key: str) -> set[str]:
    """The module names of one contract field, with "a | b" layers split and "(x)" unwrapped."""
    names = set()
    for line in config[f"importlinter:contract:{contract}"][key].split("\n"):
        names |= {part.strip().strip("()") for part in line.split("|") if part.strip()}
    return names


def _gateway_packages() -> set[str]:
    return {f"gateway.{p.parent.name}" for p in (ROOT / "gateway").glob("*/__init__.py")}


def test_every_gateway_package_has_a_layer():
    missing = _gateway_packages() - _listed(_contracts(), "layers", "layers")
    assert missing == set(), f"place {sorted(missing)} in the layers of .importlinter (see docs/architecture.md)"


def test_every_domain_package_is_kept_away_from_jobs():
    domain = _gateway_packages() - {"gateway.interfaces"}
    missing = domain - _listed(_contracts(), "domain-without-jobs", "source_modules")
    assert missing == set(), (
        f"add {sorted(missing)} to the source_modules of [importlinter:contract:domain-without-jobs]")



def test_only_the_at_adapter_writes_con_and_end():
    """AT's ``CON ``/``END `` prefixes are written in one place (the callback); the console's phone and the
    terminal simulator ask it (``at_reply``) rather than repeat it."""
    import ast

    writers = set()
    for path in list((ROOT / "gateway").rglob("*.py")) + list((ROOT / "menus").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in ("CON ", "END "):
                writers.add(path.relative_to(ROOT).as_posix())
    assert writers == {"gateway/interfaces/callbacks/ussd.py"}


def test_the_send_window_and_the_month_of_medicine_are_written_once():
    from gateway.schedules import DAYS_PER_MONTH, reminder_rules
    from gateway.schedules.window import reminder_hours

    rules = reminder_rules()
    assert reminder_hours() == (rules.window_start_hour, rules.window_end_hour - 1)
    pattern = re.compile(r"(?<![\w.])30 \* |\* 30\b|REMINDER_HOURS|days=30\b")
    repeats = [path.relative_to(ROOT).as_posix() for path in (ROOT / "gateway").rglob("*.py")
               if pattern.search(path.read_text(encoding="utf-8"))] + \
              [path.relative_to(ROOT).as_posix() for path in (ROOT / "menus").rglob("*.py")
               if pattern.search(path.read_text(encoding="utf-8"))]
    assert repeats == [] and DAYS_PER_MONTH == 30
