"""`make run`'s address: HOST and PORT reach gunicorn's BIND (read as a dry run: nothing is started)."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")


def _dry_run(tmp_path, *variables: str) -> str:
    # VENV points at an empty folder so that even the install steps are only printed.
    env = {"PATH": "/usr/bin:/bin"}
    done = subprocess.run(["make", "-n", "run", f"VENV={tmp_path / 'venv'}", *variables], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=30, check=True)
    return done.stdout


def test_make_run_listens_on_this_machine_only_by_default(tmp_path):
    out = _dry_run(tmp_path)
    assert "BIND=127.0.0.1:5000 " in out and "Console: http://127.0.0.1:5000/" in out


def test_host_and_port_choose_the_address(tmp_path):
    out = _dry_run(tmp_path, "HOST=0.0.0.0", "PORT=5099")
    assert "BIND=0.0.0.0:5099 " in out
    assert "Listening on 0.0.0.0:5099. Console: http://127.0.0.1:5099/" in out  # a wildcard is opened locally


def test_a_named_host_is_where_the_console_is_opened(tmp_path):
    out = _dry_run(tmp_path, "HOST=192.0.2.10")
    assert "BIND=192.0.2.10:5000 " in out and "Console: http://192.0.2.10:5000/" in out
