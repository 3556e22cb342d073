"""Small helpers shared by every blueprint's views."""
from __future__ import annotations

import json

from flask import redirect, render_template
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


def navigate_to(url: str, *, reload: bool = False):
    """Answer a form that takes the person to another page (DESIGN: "HTMX forms that navigate").

    A plain POST gets a 302. An HTMX request (an ``hx-post`` form or a boosted one) must not get a
    redirect: the browser's fetch would follow it and htmx would paste the next page into the
    form's target. It gets 204 + ``HX-Location`` instead, and htmx loads ``url`` the way a boosted
    link does (the body swapped, the address pushed); the request says ``HX-Boosted`` so the
    view renders its full page, not a fragment. A flash message the view queued shows on the
    page it lands on, in either case.

    ``reload=True`` sends ``HX-Redirect``, a full page load, for answers after which the page's
    own state is stale: a password change signs the session in again (new session, CSRF token
    and websocket), which a body swap would not pick up.
    """
    if not request.htmx:
        return redirect(url)
    if reload:
        return "", 204, {"HX-Redirect": url}
    location = {"path": url, "target": "body", "swap": "innerHTML show:window:top",
                "headers": {"HX-Boosted": "true"}}
    return "", 204, {"HX-Location": json.dumps(location)}


def referrer_or(default: str) -> str:
    """The page a form was sent from, when it is on this site; else ``default``. For small
    forms found on several pages (deactivate a person, mark all read) that return where they
    were used."""
    referrer = request.referrer
    if referrer and referrer.startswith(request.host_url):
        return referrer
    return default


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
