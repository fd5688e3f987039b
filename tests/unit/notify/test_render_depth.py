"""The email and the link page render any context a create accepts, and never crash on a
deeper one stored before the bound."""

from __future__ import annotations

from hitl.domain.requests import MAX_CONTEXT_DEPTH, CreatePauseRequest
from hitl.notify.render import SHOWN_DEPTH, Links, approval_email, pretty_context


def deep(levels, leaf="the deepest value"):
    value = {"v": leaf}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


def pause_with(context):
    return {
        "watchId": "w_x",
        "action": "Deploy",
        "context": context,
        "requestedBy": "bot",
        "metadata": {},
        "createdAt": "2026-12-02T00:00:00.000Z",
        "expiresAt": "2026-12-03T00:00:00.000Z",
    }


def text_of(message):
    return message.get_body(preferencelist=("plain",)).get_content()


def test_the_deepest_accepted_context_is_rendered_whole():
    context = deep(MAX_CONTEXT_DEPTH)
    CreatePauseRequest.model_validate({"action": "x", "context": context})  # accepted
    links = Links("https://h/a/t/approve", "https://h/a/t/reject", "https://h/a/t/view")
    message = approval_email(sender="hitl@x.test", to="ann@x.test", pause=pause_with(context), links=links)
    assert "the deepest value" in text_of(message)
    html = message.get_body(preferencelist=("html",)).get_content()
    assert "the deepest value" in html
    assert "not shown" not in pretty_context(context, limit=None)[0]


def test_a_context_stored_deeper_than_any_create_allows_still_renders():
    """600 levels: json's indenting encoder raised RecursionError, so no email was sent."""
    text, _ = pretty_context(deep(600), limit=None)
    assert f"nested deeper than {SHOWN_DEPTH} levels" in text
    assert "the deepest value" not in text
