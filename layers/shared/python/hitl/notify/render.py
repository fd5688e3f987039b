"""Approval emails and approver pages, rendered from jinja2 templates.

Everything a requester wrote (action, context, requestedBy, metadata) is untrusted: HTML is
autoescaped, email headers are built by ``email.message`` from single-line values, and long
values are folded so a 64 KiB context stays readable on a phone.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, PackageLoader

from hitl import timeutil

if TYPE_CHECKING:
    from email.message import EmailMessage

#: context shown in an email at most (the pause's page shows all of it)
EMAIL_CONTEXT_CHARS = 6000
LONG_STRING = 300
#: levels shown before a subtree is summarised: creates allow 32 (``MAX_CONTEXT_DEPTH``), so
#: this only guards pauses stored before that bound (json's indenting encoder recurses)
SHOWN_DEPTH = 64
SUBJECT_ACTION_CHARS = 120
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]+")


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=PackageLoader("hitl", "templates"),
        # HTML templates (*.html.j2) are escaped; the plain-text email is not HTML
        autoescape=lambda name: name is None or ".html" in name,  # noqa: S701  (escapes every HTML template)
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = lambda text: describe_time(text)
    env.filters["ago"] = lambda text: describe_age(text)
    env.filters["stamp"] = lambda text: timeutil.parse(text).strftime("%Y-%m-%d %H:%M UTC")
    return env


def one_line(text: str, limit: int) -> str:
    """A value safe for a header or a title: control characters (CR, LF…) become spaces."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def fold(value: Any, depth: int = 1) -> Any:
    """Long strings cut with a note of what was left out; structure kept, down to
    ``SHOWN_DEPTH`` levels (deeper subtrees become a note)."""
    if isinstance(value, str) and len(value) > LONG_STRING:
        return value[:LONG_STRING] + f"… ({len(value) - LONG_STRING} more characters)"
    if isinstance(value, dict | list) and depth > SHOWN_DEPTH:
        return f"… (nested deeper than {SHOWN_DEPTH} levels; not shown)"
    if isinstance(value, dict):
        return {k: fold(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [fold(v, depth + 1) for v in value]
    return value


def pretty_context(context: dict[str, Any], limit: int | None = EMAIL_CONTEXT_CHARS) -> tuple[str, bool]:
    """The context as indented JSON, long values folded; ``(text, cut)`` where ``cut`` says the
    text was shortened to ``limit`` characters."""
    text = json.dumps(fold(context), indent=2, ensure_ascii=False, sort_keys=False)
    if limit is not None and len(text) > limit:
        return text[:limit] + "\n…", True
    return text, False


def describe_time(text: str, now: datetime | None = None) -> str:
    """'in 3 hours (2026-11-24 15:00 UTC)'."""
    moment = timeutil.parse(text)
    seconds = int((moment - (now or timeutil.now())).total_seconds())
    stamp = moment.strftime("%Y-%m-%d %H:%M UTC")
    if seconds <= 0:
        return f"already passed ({stamp})"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = round(seconds / size)
            return f"in {count} {unit}{'s' if count != 1 else ''} ({stamp})"
    return f"in {seconds} seconds ({stamp})"


def describe_age(text: str, now: datetime | None = None) -> str:
    """'5 minutes ago'."""
    seconds = int(((now or timeutil.now()) - timeutil.parse(text)).total_seconds())
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


@dataclass(frozen=True)
class Links:
    approve: str
    reject: str
    page: str


def approval_email(
    *,
    sender: str,
    to: str,
    pause: dict[str, Any],
    links: Links,
    reminder: bool = False,
) -> EmailMessage:
    """The MIME message (plain text + HTML) asking ``to`` to decide."""
    context_text, cut = pretty_context(pause.get("context", {}))
    values = {
        "pause": pause,
        "action": pause["action"],
        "context_text": context_text,
        "context_cut": cut,
        "links": links,
        "reminder": reminder,
    }
    env = environment()
    prefix = "Reminder: approval needed" if reminder else "Approval needed"
    message = _message(sender, to, f"{prefix}: {one_line(pause['action'], SUBJECT_ACTION_CHARS)}")
    message["X-HITL-Watch-Id"] = pause["watchId"]
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(env.get_template("email.txt.j2").render(values))
    message.add_alternative(env.get_template("email.html.j2").render(values), subtype="html")
    return message


def page(template: str, **values: Any) -> str:
    return environment().get_template(template).render(values)


def people_email(*, sender: str, to: str, subject: str, template: str, values: dict[str, Any]) -> EmailMessage:
    """A message to a person about their account (sign-in, invitation): ``template`` names a pair
    ``<template>.txt.j2`` / ``<template>.html.j2``.  No pause, no tracking: links and plain words."""
    env = environment()
    message = _message(sender, to, one_line(subject, SUBJECT_ACTION_CHARS))
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(env.get_template(f"{template}.txt.j2").render(values))
    message.add_alternative(env.get_template(f"{template}.html.j2").render(values), subtype="html")
    return message


def _message(sender: str, to: str, subject: str) -> EmailMessage:
    """A new message with its envelope headers.  The email package's message and header classes
    load here, when a function first writes an email: the pages only render HTML."""
    from email.headerregistry import Address
    from email.message import EmailMessage
    from email.utils import format_datetime, make_msgid

    message = EmailMessage()
    message["Subject"] = subject
    message["From"] = sender
    message["To"] = Address(addr_spec=to)
    message["Date"] = format_datetime(timeutil.now())
    message["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2].strip("> ") or "hitl.local")
    return message
