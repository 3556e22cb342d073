"""Error pages: the full page in the site layout, or a small fragment for HTMX swaps."""
from __future__ import annotations

from tests.accounts.conftest import HTMX, flashes
from tests.conftest import login


def test_unknown_url_is_a_404_page_in_the_layout(client):
    response = client.get("/no/such/page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "<title>Not found · Classhub</title>" in html
    assert 'class="site-header"' in html and 'id="flashes"' in html
    assert "There is nothing here." in html
    assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")


def test_404_for_a_logged_in_user_keeps_the_navigation(client, school):
    login(client, school.teacher)
    response = client.get("/no/such/page")
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert 'id="site-menu"' in html and "Terry Teacher" in html and 'href="/students"' in html


def test_htmx_404_is_a_fragment_for_the_flash_region(client, school):
    login(client, school.teacher)
    response = client.get("/no/such/page", headers=HTMX)
    html = response.get_data(as_text=True)
    assert response.status_code == 404
    assert response.headers["HX-Retarget"] == "#flashes"
    assert response.headers["HX-Reswap"] == "afterbegin"
    assert "<html" not in html and 'id="site-menu"' not in html
    assert flashes(html) == [("error", "Not found. There is nothing here. It may have been "
                                       "removed, or the link is wrong.")]


def test_boosted_navigation_to_a_404_gets_the_whole_page(client, school):
    # hx-boost swaps the body, so it needs the full page, not the fragment.
    login(client, school.teacher)
    response = client.get("/no/such/page", headers=dict(HTMX, **{"HX-Boosted": "true"}))
    assert response.status_code == 404
    assert "HX-Retarget" not in response.headers
    assert "<html" in response.get_data(as_text=True)


def test_other_errors_use_the_same_pages(client, school):
    login(client, school.students[0])
    response = client.get("/admin/users", headers=HTMX)
    assert response.status_code == 403
    assert response.headers["HX-Retarget"] == "#flashes"
    assert flashes(response.get_data(as_text=True))[0][1].startswith("Not allowed.")
    response = client.get("/logout")
    assert response.status_code == 405
    assert "That action is not available here." in response.get_data(as_text=True)
