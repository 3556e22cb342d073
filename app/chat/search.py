"""Message search across every thread the user is a member of: SQLite FTS5 or PostgreSQL
full-text search (the migration creates the index for the database in use)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from markupsafe import Markup, escape
from sqlalchemy import text
from sqlalchemy.orm import selectinload

from app.accounts.models import User
from app.chat.formatting import without_style_marks
from app.chat.models import Message, Thread, ThreadMember
from app.chat.services import thread_title
from app.extensions import db

_START, _STOP = "\x02", "\x03"
# ts_headline drops whatever its parser takes for an HTML tag ("<b>" in a message would vanish
# from the snippet): the query hands it < and > as these, and _highlight puts them back.
_LT, _GT = "\x05", "\x06"
_WORD = re.compile(r"\w+", re.UNICODE)
MAX_TERMS = 8
LIMIT = 50


@dataclass
class SearchHit:
    message: Message
    thread: Thread
    thread_title: str
    snippet: Markup


def _terms(query: str) -> list[str]:
    return _WORD.findall(query.lower())[:MAX_TERMS]


def _highlight(raw: str) -> Markup:
    """Escape the snippet, then turn the database's markers into <mark>. It is plain text, as
    the thread list's preview is: "**Mock exam**" reads "Mock exam"."""
    plain = without_style_marks(raw.replace(_LT, "<").replace(_GT, ">"))
    escaped = str(escape(plain))
    return Markup(escaped.replace(_START, "<mark>").replace(_STOP, "</mark>"))


def search_messages(user: User, query: str) -> list[SearchHit]:
    terms = _terms(query)
    if not terms:
        return []
    if db.engine.dialect.name == "postgresql":
        sql = text("""
            SELECT m.id, ts_headline('simple', translate(m.body, '<>', chr(5) || chr(6)), q.query,
                     'StartSel=' || chr(2) || ', StopSel=' || chr(3) ||
                     ', MaxWords=24, MinWords=8, MaxFragments=1') AS snippet
            FROM messages m
            JOIN thread_members tm ON tm.thread_id = m.thread_id AND tm.user_id = :user_id
            CROSS JOIN (SELECT to_tsquery('simple', :tsquery) AS query) q
            WHERE to_tsvector('simple', m.body) @@ q.query AND m.deleted_at IS NULL
              AND m.center_id = :center_id
            ORDER BY m.id DESC LIMIT :limit""")
        params = {"tsquery": " & ".join(f"{t}:*" for t in terms)}
    else:
        sql = text("""
            SELECT m.id, snippet(messages_fts, 0, char(2), char(3), '…', 16) AS snippet
            FROM messages_fts
            JOIN messages m ON m.id = messages_fts.rowid
            JOIN thread_members tm ON tm.thread_id = m.thread_id AND tm.user_id = :user_id
            WHERE messages_fts MATCH :match AND m.deleted_at IS NULL
              AND m.center_id = :center_id
            ORDER BY m.id DESC LIMIT :limit""")
        # Each term quoted (no FTS syntax from users) and prefix-matched.
        params = {"match": " ".join(f'"{t}"*' for t in terms)}
    rows = db.session.execute(sql, {"user_id": user.id, "center_id": user.center_id,
                                    "limit": LIMIT, **params}).all()
    if not rows:
        return []
    messages = {m.id: m for m in db.session.scalars(
        db.select(Message).where(Message.id.in_([r.id for r in rows])))}
    threads = {t.id: t for t in db.session.scalars(
        db.select(Thread).where(Thread.id.in_({m.thread_id for m in messages.values()}))
        .options(selectinload(Thread.members).joinedload(ThreadMember.user)))}
    return [SearchHit(messages[r.id], threads[messages[r.id].thread_id],
                      thread_title(threads[messages[r.id].thread_id], user), _highlight(r.snippet))
            for r in rows]
