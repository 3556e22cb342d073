"""Bad input gets a clear message and a 4xx, never a 500, and never loses what was typed;
what people write (messages, group names, file names) can never become markup or a path."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.chat import attachments as chat_files
from app.chat import services
from app.chat.models import Attachment, Message, Thread
from app.extensions import db
from tests.chat.conftest import (attachment_path, composer_text, elements, hx_post,
                                 message_article, send, stored_files)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 100


def _count(model=Message) -> int:
    return db.session.scalar(select(func.count(model.id)))


@pytest.fixture
def teacher(chat, as_user):
    return as_user(chat.teacher)


@pytest.mark.parametrize("body", ["", "   \n\t  \n"])
def test_empty_or_blank_message_is_refused_with_the_composer(chat, teacher, body):
    before = _count()
    response = send(teacher, chat.group.id, body)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert f'id="composer-{chat.group.id}"' in html
    assert "Write a message or attach a file." in html
    assert 'aria-invalid="true"' in html
    assert composer_text(html) == body
    assert _count() == before


def test_a_100kb_message_is_refused_and_the_text_kept(chat, teacher):
    body = ("All work and no play makes Jack a dull boy. " * 2400)[:100 * 1024]
    assert len(body) == 100 * 1024
    before = _count()
    response = send(teacher, chat.group.id, body)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert "Messages can be at most 10,000 characters (this one has 102,400)" in html
    assert composer_text(html) == body
    assert _count() == before
    # The limit itself is allowed.
    assert send(teacher, chat.group.id, "x" * services.MAX_MESSAGE_LENGTH).status_code == 200


HOSTILE = ('<script>alert("x")</script> <img src=x onerror="alert(1)"> '
           '[click me](javascript:alert(2)) <a href="javascript:alert(3)">raw</a> '
           '<javascript:alert(4)> [data](data:text/html;base64,PHNjcmlwdD4=) '
           '<iframe src="https://evil.example"></iframe> <b onmouseover="alert(5)">b</b>')


def _assert_inert(fragment: str):
    """No script, no event handler, no javascript:/data: link, no frame or image from the text."""
    for tag, attrs in elements(fragment):
        assert tag not in {"script", "iframe", "frame", "object", "embed", "style", "link",
                           "meta", "base"}, tag
        if tag == "img":  # only the app's own images (icons, attachments), never src=x
            assert attrs.get("src", "").startswith(("/static/", "/chat/attachments/")), attrs
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        for name in ("href", "src", "action", "formaction"):
            value = (attrs.get(name) or "").strip().lower()
            assert not value.startswith(("javascript:", "data:", "vbscript:")), (tag, attrs)


def test_message_bodies_are_rendered_inert(chat, teacher, as_user):
    response = send(teacher, chat.group.id, HOSTILE)
    assert response.status_code == 200
    message = db.session.scalar(select(Message).where(Message.thread_id == chat.group.id)
                                .order_by(Message.id.desc()).limit(1))
    assert message.body == HOSTILE  # stored as typed; only the rendering is made safe
    for html in (response.get_data(as_text=True),
                 as_user(chat.s1).get(f"/chat/threads/{chat.group.id}").get_data(as_text=True)):
        article = message_article(html, message.id)
        _assert_inert(article)
        # The text itself is still there for people to read, as text.
        assert "&lt;script&gt;" in article and "alert(" in article
        assert "click me" in article
    # The thread list preview (plain text) is escaped too.
    listing = as_user(chat.s1).get("/chat/").get_data(as_text=True)
    item = listing[listing.index(f'id="thread-item-{chat.group.id}"'):]
    item = item[:item.index("</li>")]
    _assert_inert(item)
    assert "&lt;script&gt;" in item

    # Editing goes through the same sanitizer.
    response = hx_post(teacher, f"/chat/threads/{chat.group.id}/messages/{message.id}/edit",
                       {"body": HOSTILE + " edited"})
    assert response.status_code == 200
    _assert_inert(response.get_data(as_text=True))


def test_safe_links_keep_working(chat, teacher):
    response = send(teacher, chat.group.id, "[docs](https://example.com/a) and "
                                            "https://example.org/b")
    hrefs = [a.get("href") for tag, a in elements(response.get_data(as_text=True))
             if tag == "a" and "example" in (a.get("href") or "")]
    assert hrefs == ["https://example.com/a", "https://example.org/b"]


GROUP_NAME = '<script>alert("g")</script><img src=x onerror=alert(1)>'


def test_group_names_are_rendered_inert(chat, teacher, as_user):
    response = hx_post(teacher, "/chat/groups/new",
                       {"name": GROUP_NAME, "description": '<b onclick="x()">d</b>',
                        "member_ids": [str(chat.s1.id)]}, htmx=False)
    assert response.status_code == 302
    group = db.session.scalar(select(Thread).where(Thread.name == GROUP_NAME))
    assert group is not None
    services.post_message(chat.teacher, group, "findable words here")
    student = as_user(chat.s1)
    pages = [teacher.get(f"/chat/threads/{group.id}"), student.get(f"/chat/threads/{group.id}"),
             student.get("/chat/"), student.get("/chat/?kind=GROUP"),
             teacher.get(f"/chat/threads/{group.id}/settings"),
             student.get("/chat/search?q=findable")]
    for response in pages:
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert "&lt;script&gt;alert(" in html, response.request.path  # shown, as text
        for tag, attrs in elements(html):
            assert not any(name.startswith("on") for name in attrs), (tag, attrs)
            if tag == "script":
                assert attrs.get("src", "").startswith("/static/"), attrs
            if tag == "img":
                assert attrs.get("src", "").startswith("/static/"), attrs
    # Renaming to hostile text: the system message shows it as text too.
    hx_post(teacher, f"/chat/threads/{group.id}/settings",
            {"action": "rename", "name": "<img src=y onerror=alert(9)>"}, htmx=False)
    html = student.get(f"/chat/threads/{group.id}").get_data(as_text=True)
    assert "renamed the group to “&lt;img src=y onerror=alert(9)&gt;”" in html
    assert not any(tag == "img" and attrs.get("src") == "y" for tag, attrs in elements(html))


# --- attachments ---------------------------------------------------------------------------------

def _refused_upload(chat, teacher, files, expected):
    before, on_disk = _count(Attachment), stored_files()
    response = send(teacher, chat.group.id, "see attached", files=files)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert expected in html, html
    assert composer_text(html) == "see attached"
    assert _count(Attachment) == before
    assert stored_files() == on_disk  # nothing written, nothing left behind
    return html


def test_oversized_upload_is_refused(chat, teacher):
    big = b"a" * (chat_files.MAX_ATTACHMENT_BYTES + 1)
    _refused_upload(chat, teacher, [("notes.txt", big)], "notes.txt is larger than 10 MB.")
    # Exactly the limit is fine.
    ok = send(teacher, chat.group.id, "", files=[("notes.txt", b"a" * chat_files.MAX_ATTACHMENT_BYTES)])
    assert ok.status_code == 200


def test_wrong_file_types_are_refused(chat, teacher):
    _refused_upload(chat, teacher, [("setup.exe", b"MZ\x90\x00" + b"\x00" * 60)],
                    "setup.exe: this type of file cannot be attached")
    _refused_upload(chat, teacher, [("noextension", b"hello")],
                    "this type of file cannot be attached")
    _refused_upload(chat, teacher, [("photo.png", b"<html><script>alert(1)</script></html>")],
                    "photo.png is not really a .png file.")
    _refused_upload(chat, teacher, [("report.pdf", b"MZ this is no pdf")],
                    "report.pdf is not really a .pdf file.")
    _refused_upload(chat, teacher, [("data.txt", b"text\x00\x01binary")],
                    "data.txt is not a text file.")
    _refused_upload(chat, teacher, [("empty.txt", b"")], "empty.txt is empty.")
    # One bad file refuses the whole message (the good one is not stored either).
    _refused_upload(chat, teacher, [("good.png", PNG), ("bad.png", b"GIF89a...")],
                    "bad.png is not really a .png file.")


def test_too_many_files_are_refused(chat, teacher):
    files = [(f"f{n}.txt", b"hello") for n in range(chat_files.MAX_FILES_PER_MESSAGE + 1)]
    _refused_upload(chat, teacher, files, "Attach at most 5 files to a message.")
    assert send(teacher, chat.group.id, "five",
                files=files[:chat_files.MAX_FILES_PER_MESSAGE]).status_code == 200


@pytest.mark.parametrize("raw_name,safe_name", [
    ("../../etc/passwd.txt", "etc_passwd.txt"),
    ("..\\x.txt", "x.txt"),
    ("/absolute/path/evil.txt", "absolute_path_evil.txt"),
    ("....//....//up.txt", "up.txt"),
])
def test_path_tricks_in_file_names_stay_in_the_store(chat, teacher, as_user, raw_name,
                                                     safe_name):
    root = chat_files.storage_root().resolve()
    before = stored_files()
    response = send(teacher, chat.group.id, "", files=[(raw_name, b"root:x:0:0")])
    assert response.status_code == 200
    attachment = db.session.scalar(select(Attachment).order_by(Attachment.id.desc()).limit(1))
    assert attachment.filename == safe_name
    path = attachment_path(attachment)
    assert path.parent == root and path.name == attachment.storage_key
    assert safe_name not in attachment.storage_key and "/" not in attachment.storage_key
    # Exactly one new file, inside the store, named by the random key.
    assert stored_files() - before == {path}
    # Downloading uses the safe name (whatever the URL says) and the stored bytes.
    student = as_user(chat.s1)
    download = student.get(f"/chat/attachments/{attachment.id}/{attachment.filename}")
    assert download.status_code == 200 and download.data == b"root:x:0:0"
    assert safe_name in download.headers["Content-Disposition"]
    assert ".." not in download.headers["Content-Disposition"]
    assert download.headers["Content-Security-Policy"].startswith("default-src 'none'")
    sneaky = student.get(f"/chat/attachments/{attachment.id}/../../../etc/passwd")
    assert sneaky.status_code in (200, 404)
    if sneaky.status_code == 200:  # the name in the URL is cosmetic: still the stored file
        assert sneaky.data == b"root:x:0:0"


def test_a_tampered_storage_key_is_never_followed(chat, teacher, as_user):
    send(teacher, chat.group.id, "", files=[("a.txt", b"inside")])
    attachment = db.session.scalar(select(Attachment).order_by(Attachment.id.desc()).limit(1))
    attachment.storage_key = "../../secret_key"
    db.session.commit()
    response = as_user(chat.s1).get(f"/chat/attachments/{attachment.id}/a.txt")
    assert response.status_code == 404


def test_garbage_ids_in_urls_are_404(chat, teacher):
    gid = chat.group.id
    message_id = services.post_message(chat.teacher, chat.group, "hello").id
    junk = ["abc", "0", "-1", "1e3", "99999999999999999999", str(2**31), "1;DROP"]
    for bad in junk:
        assert teacher.get(f"/chat/threads/{bad}").status_code == 404, bad
        assert teacher.get(f"/chat/threads/{bad}/messages").status_code == 404, bad
        assert send(teacher, bad, "x").status_code == 404, bad
        assert teacher.get(f"/chat/threads/{gid}/messages/{bad}/edit").status_code == 404, bad
        assert hx_post(teacher, f"/chat/threads/{gid}/messages/{bad}/delete").status_code == 404
        assert hx_post(teacher, f"/chat/threads/{bad}/read").status_code == 404, bad
        assert teacher.get(f"/chat/threads/{bad}/settings").status_code == 404, bad
        assert teacher.get(f"/chat/attachments/{bad}/a.png").status_code == 404, bad
        assert hx_post(teacher, f"/chat/direct/{bad}", htmx=False).status_code == 404, bad
    # A NUL anywhere in a path is refused before routing (app/security.py), as a bad request.
    assert teacher.get("/chat/threads/%00").status_code == 400
    assert teacher.get("/chat/threads/%00/messages").status_code == 400
    assert send(teacher, "%00", "x").status_code == 400
    # A message id from another thread is 404 in this one.
    other = services.post_message(chat.teacher, chat.direct, "elsewhere").id
    assert teacher.get(f"/chat/threads/{gid}/messages/{other}/edit").status_code == 404
    # Junk in query strings and form fields is ignored, not an error.
    for query in ("at=abc", "at=-5", "at=99999999999999999999", f"at={message_id}x"):
        assert teacher.get(f"/chat/threads/{gid}?{query}").status_code == 200, query
    for query in ("before=abc", "before=99999999999999999999", "before=-1"):
        assert teacher.get(f"/chat/threads/{gid}/messages?{query}").status_code == 200, query
    assert teacher.get("/chat/?kind=NOPE").status_code == 200
    assert teacher.get("/chat/search?q=%01*\"(:^-NEAR").status_code == 200
    assert teacher.get("/chat/search?q=%00").status_code == 400  # app-wide NUL refusal
    assert hx_post(teacher, f"/chat/threads/{gid}/read", {"message_id": "junk"}).status_code == 204
    settings = f"/chat/threads/{gid}/settings"
    response = hx_post(teacher, settings, {"action": "remove", "user_id": "junk"}, htmx=False)
    assert response.status_code == 422
    assert "That person is not in the group." in response.get_data(as_text=True)
    assert hx_post(teacher, settings, {"action": "add", "member_ids": ["x", "-3"]},
                   htmx=False).status_code == 302
    assert hx_post(teacher, settings, {"action": "nonsense"}, htmx=False).status_code == 302
    group = db.session.get(Thread, gid)
    db.session.refresh(group)
    assert group.name == "Study group" and group.archived_at is None and len(group.members) == 3
