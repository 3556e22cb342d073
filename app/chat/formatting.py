"""Message text to safe HTML: markdown-it-py with raw HTML disabled, then nh3 (Ammonia)."""
from __future__ import annotations

import nh3
from markdown_it import MarkdownIt

_markdown = (MarkdownIt("commonmark", {"html": False, "linkify": True, "breaks": True,
                                       "typographer": False})
             .enable(["linkify", "strikethrough"])
             .disable(["image", "heading", "lheading", "hr"]))

ALLOWED_TAGS = {"p", "br", "strong", "em", "del", "s", "code", "pre", "a", "ul", "ol", "li",
                "blockquote"}
ALLOWED_ATTRIBUTES = {"a": {"href"}}


def render_message_html(body: str) -> str:
    html = _markdown.render(body or "")
    return nh3.clean(html, tags=ALLOWED_TAGS, attributes=ALLOWED_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow ugc")


# The emphasis and code marks a message's markdown shows as style: plain text leaves them out.
_STYLE_MARKS = ("**", "__", "`", "~~")


def without_style_marks(text: str) -> str:
    for mark in _STYLE_MARKS:
        text = text.replace(mark, "")
    return text


def preview_text(body: str, limit: int = 90) -> str:
    """One plain line for thread lists and notifications (escaped by Jinja when shown)."""
    text = without_style_marks(" ".join((body or "").split()))
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
