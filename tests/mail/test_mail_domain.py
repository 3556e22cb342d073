"""The mail domain owns the outbox: its table is the one the migrations built (the model moved
out of invites without a migration), and its pages and sweep are registered by its own
init_app."""
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import app as app_package
from app import mail
from app.extensions import db
from app.mail.models import EmailOutbox


def _not_search_index(obj, name, type_, reflected, compare_to):
    """Chat search's full-text index is made by raw SQL in its migration (FTS5 virtual tables on
    SQLite, an expression GIN index on PostgreSQL), not by a model: the one thing `flask db
    migrate` would wrongly drop."""
    return not ((type_ == "table" and name.startswith("messages_fts")) or
                (type_ == "index" and name == "ix_messages_body_fts"))


def test_the_models_match_the_migrated_schema(app):
    """What `flask db migrate` would write: nothing (the outbox model moved to app.mail, its
    table did not)."""
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={
            "include_object": _not_search_index, "compare_type": True})
        diffs = compare_metadata(context, db.metadata)
    assert EmailOutbox.__table__.name == "email_outbox"
    assert diffs == []


def test_mail_registers_its_own_pages_and_sweep(app):
    assert mail in app_package.DOMAINS
    assert app.view_functions["mail.outbox"].__module__ == "app.mail.views"
    assert app.url_map.bind("localhost").match("/admin/outbox/7.eml") == \
        ("mail.outbox_eml", {"outbox_id": "7"})
    from app.mail.tasks import sweep_outbox

    declared = [job for job in app.extensions["classhub_cron"] if job[0] is sweep_outbox]
    assert len(declared) == 1

