"""Message search (SQLite FTS5 or PostgreSQL full-text search, whichever DATABASE_URL picks):
only the searcher's threads, prefix matching, highlighted and escaped snippets, links that open
the thread at the hit."""
from __future__ import annotations

import html as html_module
import re

from app.chat import search as chat_search
from app.chat import services
from app.db_types import utcnow
from tests.chat.conftest import bulk_messages, elements, message_ids, open_and_read


def _results(browser, q) -> str:
    response = browser.get("/chat/search", query_string={"q": q})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    start = page.index('<div id="search-results">')
    return page[start:page.index("</ul>", start)]


def _hit_links(results: str) -> list[tuple[int, int]]:
    """(thread id, message id) of each hit, in order."""
    return [(int(t), int(m)) for t, m in re.findall(
        r'href="/chat/threads/(\d+)\?at=(\d+)#message-\d+"', results)]


def test_search_finds_only_the_searchers_threads(chat, other_center, as_user):
    private = services.create_group(chat.teacher, "Teacher and Ben", "", [chat.s2.id])
    in_group = services.post_message(chat.teacher, chat.group, "Photosynthesis needs light")
    in_direct = services.post_message(chat.teacher, chat.direct, "Your photosynthesis essay")
    services.post_message(chat.teacher, private, "Ben's photosynthesis grade")
    services.post_message(chat.teacher, chat.group, "Unrelated chatter")
    services.post_message(other_center.teacher, other_center.group, "Photosynthesis elsewhere")

    s1 = as_user(chat.s1)
    results = _results(s1, "photosynthesis")
    assert _hit_links(results) == [(chat.direct.id, in_direct.id), (chat.group.id, in_group.id)]
    assert "Ben&#39;s" not in results and "elsewhere" not in results
    assert "2 results" in results
    assert [h.message.id for h in chat_search.search_messages(chat.s1, "photosynthesis")] == [
        in_direct.id, in_group.id]
    # The other center's people find only their own.
    assert [h.message.body for h in chat_search.search_messages(
        other_center.student, "photosynthesis")] == ["Photosynthesis elsewhere"]
    # Ben sees the group and his private thread, not Sara's direct thread.
    assert {h.thread.id for h in chat_search.search_messages(chat.s2, "photosynthesis")} == {
        chat.group.id, private.id}
    # Removed from the group: its messages are no longer found.
    services.remove_group_member(chat.teacher, chat.group, chat.s2.id)
    assert {h.thread.id for h in chat_search.search_messages(chat.s2, "photosynthesis")} == {
        private.id}
    assert [t for t, _ in _hit_links(_results(as_user(chat.s2), "photosynthesis"))] == [
        private.id]


def test_prefix_matching_and_several_words(chat, as_user):
    both = services.post_message(chat.teacher, chat.group, "Chlorophyll drives photosynthesis")
    one = services.post_message(chat.teacher, chat.group, "Photographs of the field trip")
    s1 = as_user(chat.s1)
    assert _hit_links(_results(s1, "photo")) == [(chat.group.id, one.id),
                                                 (chat.group.id, both.id)]
    assert _hit_links(_results(s1, "PHOTO chloro")) == [(chat.group.id, both.id)]
    assert _hit_links(_results(s1, "chlorophyll")) == [(chat.group.id, both.id)]
    # Query syntax is not interpreted: quotes, operators and stars are just punctuation.
    assert _hit_links(_results(s1, '"photo" -chloro*')) == [(chat.group.id, both.id)]
    assert "Nothing found." in _results(s1, "zymurgy")
    assert "Nothing found." in _results(s1, "ph*ot")  # "ph" and "ot" both prefixes: no message


def test_snippets_are_highlighted_and_escaped(chat, as_user):
    services.post_message(chat.teacher, chat.group,
                          'Look at this: <b>bold</b> <script>alert(1)</script> mitochondria facts')
    results = _results(as_user(chat.s1), "mitochondria")
    assert "<mark>mitochondria</mark>" in results
    assert "&lt;b&gt;bold&lt;/b&gt; &lt;script&gt;alert(1)&lt;/script&gt;" in results
    tags = {tag for tag, _ in elements(results)}
    assert "b" not in tags and "script" not in tags
    # A search for text that looks like markup is just words.
    results = _results(as_user(chat.s1), "<b>bold")
    assert "<mark>bold</mark>" in results and "b" not in {t for t, _ in elements(results)}


def test_snippets_are_plain_text_as_previews_are(chat, as_user):
    services.post_message(chat.teacher, chat.group,
                          "**Mock exam** next `Tuesday`, ~~room 4~~ __hall__: bring a calculator")
    results = _results(as_user(chat.s1), "exam")
    assert "<mark>exam</mark> next Tuesday, room 4 hall: bring a calculator" in results
    assert not {"*", "`", "~"} & set(results)


def test_edits_and_deletes_are_reflected(chat, as_user):
    message = services.post_message(chat.teacher, chat.group, "Meet at the planetarium")
    s1 = as_user(chat.s1)
    assert _hit_links(_results(s1, "planetarium")) == [(chat.group.id, message.id)]
    services.edit_message(chat.teacher, message, "Meet at the aquarium")
    assert "Nothing found." in _results(s1, "planetarium")
    assert _hit_links(_results(s1, "aquarium")) == [(chat.group.id, message.id)]
    services.delete_message(chat.teacher, message)
    assert "Nothing found." in _results(s1, "aquarium")


def test_a_hit_opens_the_thread_at_the_message(chat, as_user):
    bulk_messages(chat.group, chat.teacher, 20, "earlier chatter")
    old = services.post_message(chat.teacher, chat.group, "The exam covers thermodynamics")
    bulk_messages(chat.group, chat.teacher, 150, "later chatter", start=utcnow())
    s1 = as_user(chat.s1)
    open_and_read(s1, chat.group.id)  # read: the page would open at the latest
    assert old.id not in message_ids(s1.get(f"/chat/threads/{chat.group.id}")
                                      .get_data(as_text=True))
    links = re.findall(r'href="([^"]+)"', _results(s1, "thermodynamics"))
    link = html_module.unescape(next(link for link in links if "?at=" in link))
    assert link == f"/chat/threads/{chat.group.id}?at={old.id}#message-{old.id}"
    page = s1.get(link.split("#")[0]).get_data(as_text=True)
    ids = message_ids(page)
    assert old.id in ids and ids == sorted(ids)
    # A little context before it, a way to load earlier ones, and the following messages.
    assert ids.index(old.id) > 0 and "Load earlier messages" in page
    assert ids[ids.index(old.id) + 1] == old.id + 1
    # The search itself goes through the view, with an HTMX fragment for live search.
    fragment = s1.get("/chat/search?q=thermo", headers={"HX-Request": "true"})
    assert fragment.get_data(as_text=True).lstrip().startswith('<div id="search-results">')
