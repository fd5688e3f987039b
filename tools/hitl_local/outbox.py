"""The local outbox: every email the stack sent through (moto's) SES, newest first.

``/_local/outbox.json`` lists ``[{to, subject, html, text, links, sentAt}]``; ``/_local/outbox``
shows each email rendered, its links clickable (they open in the whole window).
"""

from __future__ import annotations

import html as markup
import re
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from moto.ses.models import ses_backends

from hitl_local import apigw

ACCOUNT, REGION = "123456789012", "us-east-1"
LINK = re.compile(r"https?://[^\s\"'<>]+")
BODY = re.compile(r"<body[^>]*>(.*)</body>", re.DOTALL | re.IGNORECASE)


#: parsed emails by SES message id: each is parsed once
_parsed: dict[str, dict[str, Any]] = {}


def emails() -> list[dict[str, Any]]:
    """What SES accepted, parsed, newest first (moto runs in this process)."""
    shown = []
    for message in reversed(list(ses_backends[ACCOUNT][REGION].sent_messages)):
        raw = getattr(message, "raw_data", None)
        if raw is None:
            continue
        key = str(getattr(message, "id", id(message)))
        if key not in _parsed:
            _parsed[key] = _parse(raw)
        shown.append(_parsed[key])
    return shown


def _parse(raw: str | bytes) -> dict[str, Any]:
    parsed = message_from_bytes(raw.encode() if isinstance(raw, str) else raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    text_part = parsed.get_body(preferencelist=("plain",))
    html_part = parsed.get_body(preferencelist=("html",))
    text = text_part.get_content() if text_part else ""
    return {
        "to": [str(a) for a in parsed["To"].addresses] if parsed["To"] else [],
        "subject": str(parsed["Subject"] or ""),
        "html": html_part.get_content() if html_part else "",
        "text": text,
        "links": list(dict.fromkeys(LINK.findall(text))),
        "sentAt": parsed["Date"].datetime.isoformat() if parsed["Date"] else None,
    }


def as_json(_: apigw.Request) -> apigw.HttpResponse:
    import json

    return apigw.HttpResponse(200, {"content-type": "application/json"}, json.dumps(emails()).encode())


def as_page(_: apigw.Request) -> apigw.HttpResponse:
    items = []
    for email in emails():
        # the email's own body, inline (its styles are inline, as email HTML's are): its links are
        # ordinary links of this page, clicked as a reader would
        found = BODY.search(email["html"])
        shown = found.group(1) if found else markup.escape(email["text"])
        links = "".join(f'<li><a href="{markup.escape(u)}">{markup.escape(u)}</a></li>' for u in email["links"])
        items.append(
            f"""<article>
<h2>{markup.escape(email["subject"])}</h2>
<p class="meta">to {markup.escape(", ".join(email["to"]))} · {markup.escape(email["sentAt"] or "")}</p>
<div class="email">{shown}</div>
<details><summary>Plain text and links</summary><pre>{markup.escape(email["text"])}</pre><ul>{links}</ul></details>
</article>"""
        )
    body = "".join(items) or "<p>No emails yet. Create a pause and reload.</p>"
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Local outbox · HITL</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;margin:0;background:#eef0f3}}
main{{max-width:760px;margin:auto;padding:16px}}
article{{background:#fff;border-radius:8px;padding:12px 16px;margin:0 0 16px}}h2{{font-size:17px;margin:4px 0}}
.meta{{color:#57606a;margin:0 0 8px}}.email{{border:1px solid #d0d7de;border-radius:6px;overflow:hidden}}
pre{{white-space:pre-wrap;overflow-wrap:anywhere}}</style></head>
<body><main><h1>Local outbox</h1><p class="meta">Every email the local stack sent, newest first.
As JSON: <a href="/_local/outbox.json">/_local/outbox.json</a></p>{body}</main></body></html>"""
    return apigw.HttpResponse(
        200, {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}, page.encode()
    )
