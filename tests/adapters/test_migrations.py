"""Migrations: one head, and an upgrade of an empty database matches the models exactly."""
import os
import secrets
import subprocess
import sys

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from gateway import create_app
from gateway.adapters.database import db
from tests.conftest import ROOT


def test_single_head(app):
    config = app.extensions["migrate"].migrate.get_config()
    assert len(ScriptDirectory.from_config(config).get_heads()) == 1


def _fresh_database_url(settings, tmp_path):
    """An empty database of the kind this run uses: a new SQLite file, or a new PostgreSQL schema."""
    if settings.database_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'fresh.db'}", None
    schema = f"mig_{secrets.token_hex(4)}"
    base = settings.database_url.split("?")[0]
    engine = sa.create_engine(base)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    return f"{base}?options=-csearch_path%3D{schema}", (engine, schema)


@pytest.fixture
def fresh_app(settings, tmp_path):
    url, cleanup = _fresh_database_url(settings, tmp_path)
    app = create_app(settings.replace(database_url=url))
    yield app
    with app.app_context():
        db.engine.dispose()
    if cleanup:
        engine, schema = cleanup
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


def test_upgrade_from_empty_matches_the_models_and_downgrades_cleanly(fresh_app):
    with fresh_app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            diffs = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), db.metadata)
        assert diffs == [], diffs
        downgrade(revision="base")
        with db.engine.connect() as conn:
            assert set(sa.inspect(conn).get_table_names()) <= {"alembic_version"}


def test_db_upgrade_command_runs_from_the_shell(settings, tmp_path):
    """`flask --app wsgi db upgrade` (the Procfile's release step) on a new SQLite file."""
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'release.db'}", "SECRET_KEY": "x"}
    env.pop("REDIS_URL", None)
    result = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "db", "upgrade"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    engine = sa.create_engine(env["DATABASE_URL"])
    with engine.connect() as conn:
        assert "clients" in sa.inspect(conn).get_table_names()
    engine.dispose()
