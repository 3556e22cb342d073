"""My Day costs the same number of SQL statements with 1 session today as with 20 (each with
its people, runs, records, catch-ups and unread messages), and so does each section's refresh."""
from __future__ import annotations

import pytest

from app.my_day import services
from tests.conftest import login
from tests.my_day.helpers import build_day, local_noon

BOUND = 20


@pytest.fixture
def at_noon(monkeypatch):
    """My Day's "now" is today's local noon: the day's rows fall the same way whenever the
    tests run (a run at 00:10 would otherwise have nothing over yet)."""
    noon = local_noon()
    monkeypatch.setattr(services, "utcnow", lambda: noon)
    return noon


def statements(client, count_queries, path) -> tuple[int, str]:
    assert client.get(path).status_code == 200  # warm up: templates compiled, caches filled
    with count_queries() as counter:
        response = client.get(path)
    assert response.status_code == 200, path
    return counter.count, response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/my-day", "/my-day/sections",
                                  "/my-day/sections?only=today",
                                  "/my-day/sections?only=help",
                                  "/my-day/sections?only=catch_ups,chats"])
def test_my_day_statements_do_not_grow_with_the_day(make, new_client, count_queries, at_noon,
                                                    path):
    counts, pages = [], []
    for size in (1, 20):
        day = build_day(make, size, now=at_noon)
        client = new_client()
        login(client, day.teacher)
        count, html = statements(client, count_queries, path)
        counts.append(count)
        pages.append(html)
    assert counts[0] == counts[1], counts
    assert counts[1] <= BOUND, counts
    if path == "/my-day":
        small, large = pages
        assert small.count('class="my-day-item') == 1 and large.count('class="my-day-item') == 20
        # The large day has every kind of row: live, over to confirm, cancelled, overdue.
        for words in ("Live now", "Cancelled", "without a status", "Overdue catch-ups",
                      "A question about lesson 19", "data-session-start", "Stuck on 19",
                      "2 of 3 plans ready"):
            assert words in large, words
