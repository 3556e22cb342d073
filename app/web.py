"""Small helpers shared by every blueprint's views."""
from __future__ import annotations

from flask import render_template
from htmx_flask import request

# A page number beyond this is junk; capping it keeps OFFSET within what the database accepts.
MAX_PAGE = 100_000


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


def page_arg() -> int:
    """``?page=`` as a page number: junk means page 1; an absurd one gives an empty page, not a
    database error (an OFFSET past 64 bits)."""
    page = request.args.get("page", 1, type=int) or 1
    return min(max(page, 1), MAX_PAGE)
