"""Inserting many rows of one kind in one statement, on SQLite as on PostgreSQL.

The ORM's flush batches the INSERTs of new objects on PostgreSQL, but sends one INSERT per row
on SQLite (it needs each row's id back and SQLite cannot say which id went to which row of a
batch). Writes that add a row per person (participants, thread members, notifications) use
these instead, so their statement count does not grow with the number of people
(DESIGN.md, "Query counts stay flat")."""
from __future__ import annotations

from datetime import date, datetime, time
from functools import lru_cache

from sqlalchemy import (JSON, Enum, String, Text, bindparam, cast, func, insert, select,
                        update)
from sqlalchemy.dialects.postgresql import ARRAY

from app.extensions import db

# Rows per statement: SQLite takes at most 32,766 bound values in one statement.
CHUNK_ROWS = 1000


def all_values_of(column):
    """An aggregate of ``column`` over the rows it is computed for, as one Python list (NULL for
    no rows on PostgreSQL: read it with ``or []``): PostgreSQL's array_agg, SQLite's
    json_group_array. For a list of ids read with another row in the same statement."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.array_agg(column, type_=ARRAY(column.type))
    return func.json_group_array(column, type_=JSON)


def insert_returning(model, rows: list[dict]) -> list:
    """INSERT ``rows`` (dicts with the same keys) of ``model``; returns the new objects, loaded
    and in the session like queried ones, in no particular order. One statement per
    CHUNK_ROWS rows."""
    created = []
    for first in range(0, len(rows), CHUNK_ROWS):
        created += db.session.scalars(
            insert(model).values(rows[first:first + CHUNK_ROWS]).returning(model)).all()
    return created


def insert_rows(table, rows: list[dict], returning=(), *, skip_duplicates_of=None) -> list:
    """INSERT ``rows`` (dicts with the same keys) into ``table`` and return the ``returning``
    columns of the rows inserted, in no particular order (nothing when none are asked for). ``skip_duplicates_of``: the columns
    of a unique constraint; rows that would break it are skipped (ON CONFLICT DO NOTHING) and
    not returned, so the rows that come back are exactly the ones this statement wrote.

    On PostgreSQL one INSERT … SELECT FROM unnest(one array per column) per CHUNK_ROWS rows: a
    handful of parameters however many rows, where a VALUES list has one per value (psycopg
    parses such a statement anew each time, and that parsing cost more than the insert); a
    column whose value is the same in every row is one plain parameter instead. On
    SQLite an executemany, which SQLAlchemy sends as one multi-row INSERT per 1,000 rows."""
    if not rows:
        return []
    dialect = db.session.get_bind().dialect.name
    names = list(rows[0])
    if dialect != "postgresql":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(table)
        if skip_duplicates_of:
            statement = statement.on_conflict_do_nothing(index_elements=list(skip_duplicates_of))
        if not returning:
            db.session.execute(statement, rows)
            return []
        return db.session.execute(statement.returning(*returning, sort_by_parameter_order=False),
                                  rows).all()
    found = []
    for first in range(0, len(rows), CHUNK_ROWS):
        chunk = rows[first:first + CHUNK_ROWS]
        # A value every row shares (a notification's title for a whole class, its type, its
        # time) is sent once, not as an array of copies: psycopg builds arrays element by
        # element in Python, and for a message to a class that was most of the insert's cost.
        varying = tuple(name for name in names
                        if any(row[name] != chunk[0][name] for row in chunk)) or (names[0],)
        statement = _unnest_insert(table, tuple(names), varying, tuple(returning),
                                   tuple(skip_duplicates_of or ()))
        dialect_ = db.session.get_bind().dialect
        parameters = {f"given_{name}": array_literal(table.c[name].type, dialect_,
                                                     [row[name] for row in chunk])
                      for name in varying}
        parameters.update((f"same_{name}", chunk[0][name]) for name in names
                          if name not in varying)
        if returning:
            found += db.session.execute(statement, parameters).all()
        else:
            db.session.execute(statement, parameters)
    return found


# Built once per shape and kept: building an INSERT … SELECT FROM unnest and computing its cache
# key cost more than executing it (the values are parameters, not part of the statement).
@lru_cache(maxsize=256)
def _unnest_insert(table, names: tuple, varying: tuple, returning: tuple, skip: tuple):
    """PostgreSQL: INSERT INTO ``table`` (``names``) SELECT FROM unnest(one array parameter
    ``given_<name>`` per ``varying`` column), the other columns one ``same_<name>`` parameter."""
    from sqlalchemy.dialects.postgresql import insert as postgresql_insert

    given = func.unnest(*(_array_parameter(table, name) for name in varying)
                        ).table_valued(*varying).render_derived(name="given")
    statement = postgresql_insert(table).from_select(names, select(*(
        given.c[name] if name in varying else
        bindparam(f"same_{name}", type_=table.c[name].type) for name in names)))
    if skip:
        statement = statement.on_conflict_do_nothing(index_elements=list(skip))
    return statement.returning(*returning) if returning else statement


def update_rows(table, rows: list[dict], key: str = "id") -> None:
    """UPDATE ``table`` row by row from ``rows`` (dicts with the same keys, ``key`` naming
    each row), as one statement per CHUNK_ROWS rows on PostgreSQL (UPDATE … FROM unnest) and
    one executemany on SQLite."""
    if not rows:
        return
    names = list(rows[0])
    if db.session.get_bind().dialect.name != "postgresql":
        db.session.execute(
            update(table).where(table.c[key] == bindparam(f"given_{key}"))
            .values({name: bindparam(f"given_{name}") for name in names if name != key}),
            [{f"given_{name}": value for name, value in row.items()} for row in rows])
        return
    for first in range(0, len(rows), CHUNK_ROWS):
        given = _unnest(table, names, rows[first:first + CHUNK_ROWS])
        db.session.execute(update(table).where(table.c[key] == given.c[key])
                           .values({name: given.c[name] for name in names if name != key}))


def _unnest(table, names: list[str], rows: list[dict]):
    """PostgreSQL: ``rows`` as a FROM item, one array parameter per column."""
    dialect = db.session.get_bind().dialect
    arrays = [_array_parameter(table, name, array_literal(
        table.c[name].type, dialect, [row[name] for row in rows])) for name in names]
    return func.unnest(*arrays).table_valued(*names).render_derived(name="given")


def _array_parameter(table, name: str, value=None):
    """A column's values as one text parameter (``array_literal``) cast to an array of the
    column's type; strings and enums as TEXT[], so that a value too long for its column is
    refused by the INSERT as before, not cut short by the cast."""

    column_type = table.c[name].type
    element = Text() if isinstance(column_type, (String, Enum)) else column_type
    parameter = bindparam(f"given_{name}", value, type_=Text())
    return cast(parameter, ARRAY(element))


def _quoted(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_ELEMENT = {str: _quoted, int: str, float: repr, bool: lambda v: "t" if v else "f",
            datetime: lambda v: '"' + v.isoformat() + '"',
            date: lambda v: '"' + v.isoformat() + '"',
            time: lambda v: '"' + v.isoformat() + '"'}


def array_literal(column_type, dialect, values) -> str:
    """``values`` as one PostgreSQL array literal ('{1,2,NULL}', '{"a","b \\"c\\""}'), each
    first given the column type's own bind processing (an enum's name, an instant in UTC).
    psycopg dumps a list parameter element by element in Python (~2.5 ms per 1,000 strings,
    most of a 1,000-row INSERT's cost); this text is one string to it (~0.4 ms to build)."""
    process = column_type.bind_processor(dialect)
    parts = []
    for value in values:
        if value is not None and process is not None:
            value = process(value)
        if value is None:
            parts.append("NULL")
            continue
        element = _ELEMENT.get(type(value))
        if element is None:
            element = next((f for kind, f in _ELEMENT.items() if isinstance(value, kind)), None)
            if element is None:
                raise TypeError(f"no array literal for {type(value).__name__} ({value!r})")
        parts.append(element(value))
    return "{" + ",".join(parts) + "}"


def one_of(column, values):
    """``column IN values`` as a criterion. On PostgreSQL ``column = ANY(one array
    parameter)``: the same plan, without a placeholder per value for psycopg to parse."""
    values = list(values)
    if db.session.get_bind().dialect.name != "postgresql":
        return column.in_(values)
    from sqlalchemy import any_

    return column == any_(bindparam(None, values, type_=ARRAY(column.type), unique=True))


def one_of_parameter(column, name: str):
    """``one_of`` for a statement built once and executed many times: the values are given at
    execution as the parameter ``name`` (a list), not when the statement is built. Build such
    a statement per dialect (``reusable``)."""
    if db.session.get_bind().dialect.name != "postgresql":
        return column.in_(bindparam(name, expanding=True))
    from sqlalchemy import any_

    return column == any_(bindparam(name, type_=ARRAY(column.type)))


def reusable(build):
    """``build()`` once per database dialect, its statement kept and reused: for statements on
    the hottest paths (every chat message), where building a statement and computing its cache
    key cost more than executing it. ``build`` takes no arguments; what varies is a parameter
    (``one_of_parameter``, ``bindparam``) given at execution."""
    built: dict[str, object] = {}

    def statement():
        dialect = db.session.get_bind().dialect.name
        found = built.get(dialect)
        if found is None:
            found = built[dialect] = build()
        return found

    return statement
