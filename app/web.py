"""Small helpers shared by every blueprint's views."""
from __future__ import annotations

from flask import render_template
from htmx_flask import request


def wants_fragment() -> bool:
    """An HTMX request that swaps part of a page (not a boosted full-page navigation)."""
    return bool(request.htmx) and not request.htmx.boosted and not request.htmx.history_restore_request


def render_page(page: str, fragment: str, status: int = 200, **context):
    """Render the full page for normal and boosted requests, the fragment for HTMX swaps.
    The page template includes the same fragment, so both paths render identical markup."""
    template = fragment if wants_fragment() else page
    return render_template(template, **context), status


def form_errors_into(form, errors: dict[str, str]) -> None:
    """Attach a service's ValidationError messages to a WTForms form's fields."""
    for name, message in errors.items():
        fld = getattr(form, name, None)
        if fld is not None:
            fld.errors = list(fld.errors) + [message]
        else:
            form.form_errors.append(message)
