"""Bulk statements for the writers that handle rows by the hundred thousand (planning, import, dispatch)."""
from __future__ import annotations

from typing import Any

from sqlalchemy import ARRAY, ColumnElement, Table, any_, bindparam, insert
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


def insert_returning_ids(table: Table, rows: list[dict[str, Any]], key: str) -> list[int]:
    """Insert ``rows`` (dicts with the same keys) and return their new ids, in the order of ``rows``.

    ``key`` names a column whose values differ between the rows (it maps the
    ids back to the rows: PostgreSQL does not promise the order of RETURNING).

    - PostgreSQL: one ``INSERT ... SELECT FROM unnest(arrays)``; a value the
      same in every row is sent once. The query text stays a few hundred
      bytes whatever the number of rows; a multi-row ``VALUES`` with a
      placeholder per value costs more to build and parse than to insert
      (the dispatch pass spent half its time there, docs/performance.md).
    - Anything else: SQLAlchemy's multi-row insert with ``RETURNING``.
    """
    if not rows:
        return []
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        return list(connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                       rows).scalars())
    values_of = {name: [row[name] for row in rows] for name in rows[0]}
    for column in table.c:  # the Python-side defaults SQLAlchemy would fill in (created_at ...)
        default = column.default
        if column.name not in values_of and default is not None and (default.is_scalar or default.is_callable):
            value = default.arg(None) if default.is_callable else default.arg
            values_of[column.name] = [value] * len(rows)
    quote = dialect.identifier_preparer.quote
    columns, selected, scalars, unnested, arrays = [], [], [], [], []
    for name, values in values_of.items():
        type_ = table.c[name].type.compile(dialect=dialect)
        columns.append(quote(name))
        if name != key and values.count(values[0]) == len(values):  # the same in every row: sent once
            selected.append(f"%s::{type_}")
            scalars.append(values[0])
        else:
            selected.append(f"u.{quote(name)}")
            unnested.append((f"%s::{type_}[]", quote(name)))
            arrays.append(values)
    # Placeholders in text order: the constants in the SELECT list, then unnest's arrays.
    statement = (f"INSERT INTO {quote(table.name)} ({', '.join(columns)}) "
                 f"SELECT {', '.join(selected)} FROM unnest({', '.join(p for p, _ in unnested)}) "
                 f"AS u({', '.join(n for _, n in unnested)}) RETURNING id, {quote(key)}")
    ids = {value: id_ for id_, value in connection.exec_driver_sql(statement, tuple(scalars + arrays))}
    if len(ids) != len(rows):
        raise ValueError(f"insert_returning_ids: {key} must differ between the rows")
    return [ids[row[key]] for row in rows]


def among(column: ColumnElement, values) -> ColumnElement:
    """``column IN values`` for a list of hundreds or thousands of values.

    On PostgreSQL ``column = ANY(%s)`` with the whole list as one array
    parameter: the statement text is the same for any number of values, so
    it is compiled, converted and prepared once. ``IN`` with a placeholder per
    value makes a new text of thousands of placeholders each time, whose
    building and parsing cost the dispatch pass more than the database's
    work (docs/performance.md). Elsewhere a plain ``IN``.
    """
    values = list(values)
    if db.session.get_bind().dialect.name == "postgresql":
        return column == any_(bindparam(None, values, type_=ARRAY(column.type), unique=True))
    return column.in_(values)
