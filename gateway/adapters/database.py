"""The database adapter: ``db`` and ``migrate``, created at module level and bound in ``init_app``.

Importing this module changes nothing outside it: the engine events it needs
are registered on the app's own engines by ``init_app``, not on every
SQLAlchemy engine in the process.
"""
import logging
import re

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import MetaData, event, inspect

log = logging.getLogger(__name__)

# Deterministic constraint names, so Alembic migrations are the same on
# SQLite and PostgreSQL and can be altered later by name.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Keys of ours in a connection's and a session's ``info``.
_WROTE = "gateway.wrote"  # this transaction sent something other than a SELECT, or a statement failed
_CONNECTIONS = "gateway.connections"  # the connections of the session's current transaction
# One statement that reads: a SELECT with no second statement after a ";" (anything else counts as a write).
_READS = re.compile(r"\s*SELECT\b[^;]*\Z", re.IGNORECASE).match


class Session(FlaskSession):
    """``db.session``: ends a transaction that changed nothing with COMMIT, not ROLLBACK.

    Both leave the database as it was, but psycopg forgets every statement it
    has prepared on a ROLLBACK (and deallocates them), so when each request
    that only reads (most USSD screens) was rolled back at its end, PostgreSQL
    parsed and planned the same few queries again for every request. Ending
    such a transaction with COMMIT keeps them prepared on the connection
    (docs/performance.md, "A sixth look").

    A transaction ends this way only when every statement it sent through
    SQLAlchemy was a single SELECT and succeeded, nothing was written through
    the driver itself (``mark_written``), and nothing is pending in the
    session; anything else is rolled back as before, so what a request did
    not commit is still never kept. The contract this rests on: a SELECT
    changes nothing. None of ours does (no ``pg_notify``, ``set_config`` or
    ``SELECT … INTO``); one that did would have to call ``mark_written``.
    """

    def close(self) -> None:
        try:
            connections = self.info.get(_CONNECTIONS)
            if connections and self._changed_nothing(connections):
                self.expunge_all()  # first, as closing does: what was loaded stays loaded (not expired by the commit)
                self.commit()
        except Exception:  # the connection failed: closing below rolls back or invalidates it
            log.warning("ending a transaction that only read failed", exc_info=True)
        finally:
            super().close()

    def _changed_nothing(self, connections) -> bool:
        transaction = self.get_transaction()
        return (transaction is not None and transaction.is_active and not self.in_nested_transaction()
                and not (self.new or self.dirty or self.deleted)
                and all(not c.invalidated and not c.closed and c.info.get(_WROTE) is False for c in connections))


def mark_written(connection) -> None:
    """Say that this transaction wrote through the driver itself (a COPY, a raw executemany), which
    SQLAlchemy's events do not see: ``db.session`` then rolls it back, not commits it, if it is left open."""
    connection.info[_WROTE] = True


@event.listens_for(Session, "after_transaction_create")
def _started(session, transaction):
    if transaction.parent is None:  # a new root transaction: no connection yet (a list left by a failed end goes)
        session.info.pop(_CONNECTIONS, None)


@event.listens_for(Session, "after_begin")
def _joined(session, transaction, connection):
    session.info.setdefault(_CONNECTIONS, []).append(connection)


@event.listens_for(Session, "after_transaction_end")
def _ended(session, transaction):
    if transaction.parent is None:
        session.info.pop(_CONNECTIONS, None)


def _begun(conn):
    conn.info[_WROTE] = False


def _sent(conn, cursor, statement, parameters, context, executemany):
    if not _READS(statement):
        conn.info[_WROTE] = True


def _failed(context):
    connection = context.connection
    # An invalidated connection ends by rollback anyway; asking it for its info would reconnect.
    if connection is not None and not connection.invalidated and not connection.closed:
        connection.info[_WROTE] = True


db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING), session_options={"class_": Session})
migrate = Migrate(render_as_batch=True, compare_type=True)


def _sqlite_pragmas(dbapi_connection, connection_record):
    """Make SQLite safe for a web process and a worker side by side.

    WAL lets readers and one writer work at once; busy_timeout makes a second
    writer wait instead of failing; foreign keys are off by default in SQLite.
    """
    module = type(dbapi_connection).__module__
    if not module.startswith("sqlite3"):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def unread(obj: object, collection: str) -> bool:
    """True if ``obj`` is a stored row whose ``collection`` has not been read in this session."""
    state = inspect(obj, raiseerr=False)  # None for a bulk planner's stand-in (``new_rows``)
    return state is not None and state.persistent and collection in state.unloaded


# Events on the app's engines (``init_app``): the read-only ending above and SQLite's pragmas.
_ENGINE_EVENTS = (("begin", _begun), ("before_cursor_execute", _sent), ("handle_error", _failed),
                  ("connect", _sqlite_pragmas))


def init_app(app, migrations: str) -> None:
    """Bind ``db`` and ``migrate`` to the app; register the engine events on its engines only."""
    db.init_app(app)
    migrate.init_app(app, db, directory=migrations)
    with app.app_context():
        for engine in db.engines.values():
            for name, listener in _ENGINE_EVENTS:
                if not event.contains(engine, name, listener):
                    event.listen(engine, name, listener)
