"""Inserting many rows of one kind in one statement, on SQLite as on PostgreSQL.

The ORM's flush batches the INSERTs of new objects on PostgreSQL, but sends one INSERT per row
on SQLite (it needs each row's id back and SQLite cannot say which id went to which row of a
batch). Writes that add a row per person (participants, thread members, notifications) use
these instead, so their statement count does not grow with the number of people
(DESIGN.md, "Query counts stay flat")."""
from __future__ import annotations

from sqlalchemy import insert

from app.extensions import db

# Rows per statement: SQLite takes at most 32,766 bound values in one statement.
CHUNK_ROWS = 1000


def insert_returning(model, rows: list[dict]) -> list:
    """INSERT ``rows`` (dicts with the same keys) of ``model``; returns the new objects, loaded
    and in the session like queried ones, in no particular order. One statement per
    CHUNK_ROWS rows."""
    created = []
    for first in range(0, len(rows), CHUNK_ROWS):
        created += db.session.scalars(
            insert(model).values(rows[first:first + CHUNK_ROWS]).returning(model)).all()
    return created
