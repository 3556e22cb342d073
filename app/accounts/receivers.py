"""Accounts' own reactions to its domain events (connected when the app is built)."""
from app.accounts.signals import people_imported


@people_imported.connect
def _welcome_imported_people(actor, user_ids=frozenset(), **_):
    # Imported people have no password: each is emailed a link to choose one.
    from app.accounts.password_resets import welcome_imported_people

    welcome_imported_people(actor, user_ids)
