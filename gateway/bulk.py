"""Bulk statements for the writers that handle rows by the hundred thousand (planning, import, dispatch)."""
from __future__ import annotations

from typing import Any, NamedTuple

from sqlalchemy import ARRAY, ColumnElement, Table, any_, bindparam, insert, update
from sqlalchemy.exc import DBAPIError

from gateway.adapters.database import db, mark_written


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
    mark_written(connection)  # SQLAlchemy does not see what goes to the driver directly
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
    if len({row[key] for row in rows}) != len(rows):
        raise ValueError(f"insert_returning_ids: {key} must differ between the rows")
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        return list(connection.execute(insert(table).returning(table.c.id, sort_by_parameter_order=True),
                                       rows).scalars())
    values_of = {name: [row[name] for row in rows] for name in rows[0]}
    _python_defaults(table, values_of, len(rows), "default")
    quote = dialect.identifier_preparer.quote
    exprs, scalars, rows_from = _unnest(table, values_of, key, dialect)
    statement = (f"INSERT INTO {quote(table.name)} ({', '.join(quote(name) for name in exprs)}) "
                 f"SELECT {', '.join(exprs.values())} FROM {rows_from.sql} RETURNING id, {quote(key)}")
    ids = {value: id_ for id_, value in connection.exec_driver_sql(statement, (*scalars, *rows_from.arrays))}
    return [ids[row[key]] for row in rows]


def update_rows(table: Table, rows: list[dict[str, Any]], key: str = "id") -> None:
    """Set each row's values (dicts with the same keys, one of them ``key``) on the row ``key`` names.

    - PostgreSQL: one ``UPDATE ... FROM unnest(arrays)``, values the same
      in every row sent once (see ``insert_returning_ids``). An executemany
      is one statement per row for the server and for the driver.
    - Anything else: a Core executemany.
    """
    if not rows:
        return
    connection = db.session.connection()
    dialect = connection.dialect
    if dialect.name != "postgresql":
        names = [name for name in rows[0] if name != key]
        # (executemany parameters may not be named after the columns they set)
        statement = update(table).where(table.c[key] == bindparam("_key")).values(
            {name: bindparam(f"_{name}") for name in names})
        connection.execute(statement, [{"_key": row[key], **{f"_{n}": row[n] for n in names}} for row in rows])
        return
    values_of = {name: [row[name] for row in rows] for name in rows[0]}
    _python_defaults(table, values_of, len(rows), "onupdate")
    names = [name for name in values_of if name != key]
    quote = dialect.identifier_preparer.quote
    exprs, scalars, rows_from = _unnest(table, values_of, key, dialect)
    target = quote(table.name)
    statement = (f"UPDATE {target} SET {', '.join(f'{quote(n)} = {exprs[n]}' for n in names)} "
                 f"FROM {rows_from.sql} WHERE {target}.{quote(key)} = {exprs[key]}")
    connection.exec_driver_sql(statement, (*scalars, *rows_from.arrays))


class _Rows(NamedTuple):
    sql: str  # unnest(%b::type[], ...) AS u(name, ...)
    arrays: list[list]


def _unnest(table: Table, values_of: dict[str, list], key: str, dialect) -> tuple[dict[str, str], list, _Rows]:
    """For PostgreSQL's bulk statements: an SQL expression per column, the constants' values, the arrays.

    A column with the same value in every row (not ``key``) becomes one
    ``%s`` constant; the others are columns of ``unnest`` over binary arrays
    (no quoting of each text: for 500 texts about four times cheaper than
    the text format). In the statement text the constants must come before
    the ``unnest``.
    """
    quote = dialect.identifier_preparer.quote
    exprs, scalars, placeholders, names, arrays = {}, [], [], [], []
    for name, values in values_of.items():
        type_ = table.c[name].type.compile(dialect=dialect)
        if name != key and values.count(values[0]) == len(values):
            exprs[name] = f"%s::{type_}"
            scalars.append(values[0])
        else:
            exprs[name] = f"u.{quote(name)}"
            placeholders.append(f"%b::{type_}[]")
            names.append(quote(name))
            arrays.append(values)
    return exprs, scalars, _Rows(f"unnest({', '.join(placeholders)}) AS u({', '.join(names)})", arrays)


def _python_defaults(table: Table, values_of: dict[str, list], n: int, when: str) -> None:
    """Fill in the Python-side ``default`` (``when="default"``) or ``onupdate`` values the rows leave out,
    as SQLAlchemy's own statements would (``created_at``, ``updated_at``)."""
    for column in table.c:
        default = getattr(column, when)
        if column.name not in values_of and default is not None and (default.is_scalar or default.is_callable):
            value = default.arg(None) if default.is_callable else default.arg
            values_of[column.name] = [value] * n


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
