"""Bulk inserts for the writers that handle rows by the hundred thousand (planning, CSV import)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.exc import DBAPIError

from .extensions import db


def bulk_insert(table: Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) into ``table`` in the session's transaction.

    For the bulk writers of planning and import, where rows come by the
    hundred thousand and SQLAlchemy's per-row work would cost more than the
    database's. Values must be plain hashable Python values (numbers, text,
    dates, datetimes, None), not JSON documents.

    - PostgreSQL (psycopg): one COPY. An executemany there is one statement
      per row on the server, several times COPY's cost.
    - SQLite: the driver's executemany, each value converted by its column
      type's own bind processor (the text SQLAlchemy would store), once per
      distinct value: dates and timestamps repeat across a batch.
    - Anything else: a Core executemany.
    """
    if not rows:
        return
    connection = db.session.connection()
    dialect = connection.dialect
    keys = list(rows[0])
    quote = dialect.identifier_preparer.quote
    columns = ", ".join(quote(key) for key in keys)
    if dialect.name == "postgresql" and dialect.driver == "psycopg":
        statement = f"COPY {quote(table.name)} ({columns}) FROM STDIN"
        values = ([row[key] for key in keys] for row in rows)
    elif dialect.name == "sqlite":
        statement = f"INSERT INTO {quote(table.name)} ({columns}) VALUES ({', '.join('?' * len(keys))})"
        converters = []
        for key in keys:
            process = table.c[key].type.dialect_impl(dialect).bind_processor(dialect)
            converters.append(_memoised(process) if process else None)
        values = [tuple(row[key] if convert is None else convert(row[key]) for key, convert in zip(keys, converters))
                  for row in rows]
    else:
        connection.execute(insert(table), rows)
        return
    driver = connection.connection.driver_connection
    try:
        if dialect.name == "sqlite":
            driver.executemany(statement, values)
        else:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for value in values:
                    copy.write_row(value)
    except dialect.loaded_dbapi.Error as exc:
        # The same exception classes as through SQLAlchemy (IntegrityError for a duplicate, ...).
        raise DBAPIError.instance(statement, None, exc, dialect.loaded_dbapi.Error) from exc


def _memoised(process):
    seen: dict = {}

    def convert(value):
        try:
            return seen[value]
        except KeyError:
            seen[value] = converted = process(value)
            return converted
    return convert
