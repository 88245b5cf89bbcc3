"""``db.session`` ends a transaction that changed nothing with COMMIT, and anything else with ROLLBACK.

Real database (SQLite, or PostgreSQL in CI): the engine's own commit and
rollback events are counted, and what is in the tables afterwards is read
back through a connection of its own.
"""
from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from sqlalchemy import event, select

from gateway.adapters.database import db
from gateway.core.models import Site


@pytest.fixture
def endings(app):
    """How the engine's transactions ended: a list of "commit" and "rollback", in order."""
    seen: list[str] = []
    listeners = {"commit": lambda conn: seen.append("commit"), "rollback": lambda conn: seen.append("rollback")}
    for name, fn in listeners.items():
        event.listen(db.engine, name, fn)
    yield seen
    for name, fn in listeners.items():
        event.remove(db.engine, name, fn)


def _site_names() -> list[str]:
    with db.engine.connect() as conn:
        return list(conn.scalars(select(Site.name).order_by(Site.name)))


def _stored_site(name: str = "Kept") -> None:
    db.session.add(Site(name=name, country="ZA", timezone="Africa/Johannesburg"))
    db.session.commit()
    db.session.remove()


def test_a_transaction_that_only_read_ends_with_commit(app, endings):
    _stored_site()
    endings.clear()
    assert db.session.scalars(select(Site.name)).all() == ["Kept"]
    db.session.execute(sa.text("  select count(*) from sites")).scalar_one()  # text, lower case, spaces: still a read
    db.session.remove()
    assert endings == ["commit"]


def test_what_a_read_loaded_stays_loaded_after_the_ending(app, endings):
    _stored_site()
    endings.clear()
    site = db.session.scalars(select(Site)).one()
    db.session.remove()
    assert endings == ["commit"]
    assert sa.inspect(site).detached and site.name == "Kept"  # not expired by the commit: no query needed


def test_a_flushed_change_is_rolled_back_not_kept(app, endings):
    _stored_site()
    endings.clear()
    site = db.session.scalars(select(Site)).one()
    site.name = "Changed"
    db.session.flush()
    db.session.add(Site(name="New", country="KE", timezone="Africa/Nairobi"))
    db.session.flush()
    db.session.remove()
    assert endings == ["rollback"]
    assert _site_names() == ["Kept"]


def test_a_pending_change_is_not_written_by_the_ending(app, endings):
    _stored_site()
    endings.clear()
    with db.session.no_autoflush:
        db.session.scalars(select(Site)).one().name = "Changed"  # dirty, never flushed
        db.session.add(Site(name="New", country="KE", timezone="Africa/Nairobi"))  # new, never flushed
        assert db.session.scalars(select(Site.name)).all() == ["Kept"]
    db.session.remove()
    assert endings == ["rollback"]
    assert _site_names() == ["Kept"]


def test_a_write_in_plain_sql_is_rolled_back(app, endings):
    _stored_site()
    endings.clear()
    db.session.execute(select(Site.id)).all()
    db.session.execute(sa.text("UPDATE sites SET name = 'Changed'"))
    db.session.remove()
    assert endings == ["rollback"]
    assert _site_names() == ["Kept"]


def test_a_failed_statement_ends_with_rollback(app, endings):
    _stored_site()
    db.engine.dispose()  # an empty pool: both transactions below run on one connection
    endings.clear()
    with pytest.raises(sa.exc.DBAPIError):
        db.session.execute(sa.text("SELECT no_such_column FROM sites"))
    db.session.remove()
    assert endings == ["rollback"]
    # The next transaction on the same connection is a read again, and ends with COMMIT.
    endings.clear()
    assert db.session.scalars(select(Site.name)).all() == ["Kept"]
    db.session.remove()
    assert endings == ["commit"]


def test_rows_written_through_the_driver_are_rolled_back(app, endings):
    """``bulk.bulk_insert`` writes by COPY (PostgreSQL) or the driver's executemany (SQLite), unseen by SQLAlchemy."""
    from gateway.adapters.bulk import bulk_insert

    db.session.scalars(select(Site.id)).all()
    now = dt.datetime(2026, 11, 23, 12, 0)
    bulk_insert(Site.__table__, [{"name": "Copied", "country": "ZA", "timezone": "Africa/Johannesburg",
                                  "created_at": now, "updated_at": now}])
    assert db.session.scalars(select(Site.name)).all() == ["Copied"]  # written, in this transaction
    db.session.remove()  # left open, as a job that fails between two batches leaves it
    assert endings == ["rollback"]
    assert _site_names() == []


def test_a_released_savepoint_counts_as_a_write(app, endings):
    _stored_site()
    endings.clear()
    with db.session.begin_nested():
        db.session.scalars(select(Site.name)).all()
    db.session.remove()
    assert endings == ["rollback"]


def test_a_select_followed_by_another_statement_counts_as_a_write(app, endings):
    if db.engine.dialect.name == "sqlite":
        pytest.skip("sqlite3 runs one statement per execute")
    _stored_site()
    endings.clear()
    db.session.connection().exec_driver_sql("SELECT 1; UPDATE sites SET name = 'Changed'")
    db.session.remove()
    assert endings == ["rollback"]
    assert _site_names() == ["Kept"]


def test_a_commit_that_fails_while_closing_still_closes(app, endings, caplog):
    _stored_site()
    endings.clear()
    db.session.scalars(select(Site.name)).all()
    session = db.session()
    session.commit = lambda: (_ for _ in ()).throw(RuntimeError("the connection went away"))  # noqa: E731
    db.session.remove()
    assert endings == ["rollback"]  # closing rolled it back
    assert "ending a transaction that only read failed" in caplog.text
    assert db.session() is not session  # the registry was cleared: the next request gets a new session
    assert db.session.scalars(select(Site.name)).all() == ["Kept"]
    db.session.remove()


def test_a_commit_then_a_read_ends_each_transaction_its_own_way(app, endings):
    db.session.add(Site(name="Kept", country="ZA", timezone="Africa/Johannesburg"))
    db.session.commit()  # a write, committed by the code
    assert db.session.scalars(select(Site.name)).all() == ["Kept"]  # a new transaction that only reads
    db.session.remove()
    assert endings == ["commit", "commit"]


def test_prepared_statements_outlive_requests_that_only_read(app):
    """psycopg prepares a statement run five times on a connection, and forgets them all on a ROLLBACK."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("prepared statements are psycopg's, on PostgreSQL")
    _stored_site()
    db.engine.dispose()  # an empty pool: one request at a time then reuses one connection (the pool is FIFO)
    query = select(Site.name).where(Site.country == sa.bindparam("country"))
    for _ in range(8):  # one connection, taken from the pool and given back each time
        assert db.session.scalars(query, {"country": "ZA"}).all() == ["Kept"]
        db.session.remove()
    prepared = db.session.scalars(sa.text("SELECT statement FROM pg_prepared_statements")).all()
    db.session.remove()
    assert any("FROM sites" in statement and "country" in statement for statement in prepared), prepared
