"""Helpers of the dashboard tests: the sign-in email, form fields, a signed-in browser."""

from __future__ import annotations

import re
from collections.abc import Callable
from email.message import EmailMessage

from tests.client import Answer, Browser

#: the emails sent so far, newest last (moto's SES in-process; the outbox on the local stack)
Mailbox = Callable[[], list[EmailMessage]]


def signin_email(mailbox: Mailbox, to: str) -> tuple[str, str]:
    """The path of the sign-in link and the code in the last sign-in email to ``to``."""
    mail = [m for m in mailbox() if m["To"] == to and "/login/" in _text(m)][-1]
    text = _text(mail)
    link = re.search(r"https?://[^/\s]+(/login/[A-Za-z0-9_-]{43})", text)
    code = re.search(r"code: (\d{6})", text)
    assert link and code, text
    return link.group(1), code.group(1)


def _text(mail: EmailMessage) -> str:
    body = mail.get_body(("plain",))
    return body.get_content() if body is not None else ""


def form_field(answer: Answer, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', answer.text)
    assert found, f"no field {name} in the page"
    return found.group(1)


def sign_in(browser: Browser, mailbox: Mailbox, email: str) -> Browser:
    """Ask for a link, open it, confirm: ``browser`` is signed in as ``email``."""
    assert browser.post("/login", {"email": email}).status == 200
    link, _ = signin_email(mailbox, email)
    page = browser.get(link)
    answer = browser.post(link, {"csrf": form_field(page, "csrf")})
    assert answer.status == 303 and answer.headers["location"] == "/app", answer.text
    return browser
