"""The Block Kit of an approver's DM: the request (action, who asked, a readable context summary,
expiry, Approve and Reject buttons each with a confirm dialog, a link to the pause's dashboard
page), and the same message updated as the pause goes on (the tally of an N of M pause, then the
outcome: who decided, when, their comment; no buttons once it is over).

Everything a requester wrote (action, requestedBy, context) and an approver's comment is
untrusted: it is escaped for Slack's mrkdwn (``&``, ``<``, ``>``: no mention, link or broadcast can
be smuggled in), and the context sits in a code block it cannot break out of.  Every text is cut
to Slack's limits (≤ 50 blocks, section text ≤ 3000 characters, header ≤ 150, button value ≤ 2000),
so a 64 KiB context still posts; the dashboard page shows all of it.

A click sends ``block_actions`` with ``action_id`` ``hitl_approve`` / ``hitl_reject`` and the
pause's ``watchId`` as ``value``; the link button (``hitl_open``) opens the page and is sent to
the interactivity URL too, where it decides nothing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from hitl import timeutil

APPROVE = "hitl_approve"
REJECT = "hitl_reject"
OPEN = "hitl_open"
#: the block of the buttons (``block_actions`` payloads name it)
ACTIONS_BLOCK = "hitl_decide"

#: Slack's limits (https://api.slack.com/reference/block-kit)
MAX_BLOCKS = 50
SECTION_TEXT = 3000
HEADER_TEXT = 150
BUTTON_VALUE = 2000
FIELD_TEXT = 2000
CONTEXT_ELEMENT_TEXT = 3000
#: the fallback ``text`` (notifications, screen readers) is kept to what Slack shows in full
FALLBACK_TEXT = 3000
#: how much of the context the DM shows: two sections' worth; the page shows the rest
CONTEXT_SECTIONS = 2
#: a string longer than this is folded in the summary
LONG_VALUE = 200
#: levels of the context shown before a subtree becomes a note
SHOWN_DEPTH = 6
ACTION_CHARS = 500
COMMENT_CHARS = 1500

OUTCOME_TITLES = {
    "approved": "Approved",
    "rejected": "Rejected",
    "expired": "Expired",
    "cancelled": "Cancelled",
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]+")


@dataclass(frozen=True)
class Message:
    """What ``chat.postMessage`` / ``chat.update`` send: the fallback ``text`` and the ``blocks``."""

    text: str
    blocks: list[dict[str, Any]]


def escape(text: str) -> str:
    """``text`` as literal mrkdwn: Slack's three control characters escaped, control characters gone."""
    return _CONTROL.sub(" ", text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _escaped_cut(text: str, limit: int) -> str:
    """Escape, then cut without splitting an entity (``&amp;`` …) in two."""
    escaped = escape(text)
    if len(escaped) <= limit:
        return escaped
    shown = escaped[: limit - 1]
    amp = shown.rfind("&")
    if amp != -1 and ";" not in shown[amp:]:
        shown = shown[:amp]
    return shown + "…"


def _plain(text: str, limit: int) -> dict[str, Any]:
    return {"type": "plain_text", "text": cut(_CONTROL.sub(" ", text).strip() or "-", limit), "emoji": True}


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": cut(text, SECTION_TEXT)}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def fold(value: Any, depth: int = 1) -> Any:
    """Long strings cut with a note of what was left out; deep subtrees become a note."""
    if isinstance(value, str) and len(value) > LONG_VALUE:
        return value[:LONG_VALUE] + f"… ({len(value) - LONG_VALUE} more characters)"
    if isinstance(value, dict | list) and depth > SHOWN_DEPTH:
        return f"… ({'object' if isinstance(value, dict) else 'list'} nested deeper; see the page)"
    if isinstance(value, dict):
        return {k: fold(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [fold(v, depth + 1) for v in value]
    return value


def context_sections(context: dict[str, Any], sections: int = CONTEXT_SECTIONS) -> list[dict[str, Any]]:
    """The context, folded, as indented JSON in code blocks of at most ``sections`` sections; a note
    when some of it is not shown."""
    if not context:
        return []
    text = escape(json.dumps(fold(context), indent=1, ensure_ascii=False)).replace("```", "`\u200b``")
    room = SECTION_TEXT - len("*Context*\n```\n```") - 40  # the fences, the title and the "…" note
    chunks = [text[start : start + room] for start in range(0, len(text), room)]
    shown = chunks[:sections]
    blocks = [
        _section(("*Context*\n" if n == 0 else "") + "```" + _whole_entities(chunk) + "```")
        for n, chunk in enumerate(shown)
    ]
    if len(chunks) > sections:
        left = len(text) - sum(len(c) for c in shown)
        blocks.append(_context_note(f"… {left} more characters of context: open the pause's page to read it all."))
    return blocks


def _whole_entities(chunk: str) -> str:
    """A chunk of escaped text may end or start inside ``&lt;``: Slack then shows a stray ``&``.
    Harmless (it cannot form a mention), but keep it tidy at the end."""
    amp = chunk.rfind("&", max(0, len(chunk) - 5))
    return chunk[:amp] if amp != -1 and ";" not in chunk[amp:] else chunk


def _context_note(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": cut(text, CONTEXT_ELEMENT_TEXT)}]}


def _stamp(iso: str) -> str:
    """Slack's date formatting (shown in the reader's own time zone), with a UTC fallback."""
    moment = timeutil.parse(iso)
    fallback = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{timeutil.epoch(moment)}^{{date_short_pretty}} at {{time}}|{fallback}>"


def page_url(base_url: str, watch_id: str) -> str:
    return f"{base_url.rstrip('/')}/app/pauses/{watch_id}"


def _confirm(title: str, text: str, yes: str, style: str) -> dict[str, Any]:
    return {
        "title": _plain(title, 100),
        "text": {"type": "mrkdwn", "text": cut(text, 300)},
        "confirm": _plain(yes, 30),
        "deny": _plain("Cancel", 30),
        "style": style,
    }


def _buttons(pause: dict[str, Any], base_url: str, *, decide: bool) -> dict[str, Any]:
    watch_id = cut(pause["watchId"], BUTTON_VALUE)
    action = _escaped_cut(pause["action"], 120)
    elements: list[dict[str, Any]] = []
    if decide:
        elements += [
            {
                "type": "button",
                "action_id": APPROVE,
                "text": _plain("Approve", 75),
                "style": "primary",
                "value": watch_id,
                "confirm": _confirm("Approve this?", f"Approve *{action}*?", "Approve", "primary"),
            },
            {
                "type": "button",
                "action_id": REJECT,
                "text": _plain("Reject", 75),
                "style": "danger",
                "value": watch_id,
                "confirm": _confirm("Reject this?", f"Reject *{action}*?", "Reject", "danger"),
            },
        ]
    elements.append(
        {
            "type": "button",
            "action_id": OPEN,
            "text": _plain("Open in the dashboard", 75),
            "url": page_url(base_url, pause["watchId"]),
            "value": watch_id,
        }
    )
    return {"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}


def _asked(pause: dict[str, Any]) -> dict[str, Any]:
    text = f"*{_escaped_cut(pause['action'], ACTION_CHARS)}*\nRequested by {_escaped_cut(pause['requestedBy'], 200)}"
    return _section(text)


def _required(pause: dict[str, Any]) -> int:
    return int((pause.get("policy") or {}).get("requiredApprovals", 1))


def _tally(pause: dict[str, Any]) -> str:
    approvals = [a for a in pause.get("approvals", []) if a.get("decision") == "approved"]
    named = len((pause.get("policy") or {}).get("approvers", []))
    text = f"*Approvals:* {len(approvals)} of {_required(pause)} needed"
    if named:
        text += f" ({named} approver{'s' if named != 1 else ''} named)"
    for approval in pause.get("approvals", []):
        mark = "approved" if approval.get("decision") == "approved" else "rejected"
        text += f"\n• {escape(approval['by'])} {mark} {_stamp(approval['at'])}"
        if approval.get("comment"):
            text += f": “{_escaped_cut(approval['comment'], 300)}”"
    return text


def request_message(pause: dict[str, Any], *, base_url: str, reminder: bool = False) -> Message:
    """The DM asking an approver to decide (``pause``: ``models.pause_view`` with its context)."""
    title = "Reminder: approval needed" if reminder else "Approval needed"
    return _message(title, pause, base_url, decide=True)


def status_message(pause: dict[str, Any], *, base_url: str) -> Message:
    """The DM as the pause now stands: still asking (with the tally so far) while pending, else the
    outcome with who decided, when and their comment, and no buttons."""
    if pause["status"] == "pending":
        return _message("Approval needed", pause, base_url, decide=True)
    return _message(OUTCOME_TITLES.get(pause["status"], pause["status"].title()), pause, base_url, decide=False)


def _message(title: str, pause: dict[str, Any], base_url: str, *, decide: bool) -> Message:
    blocks: list[dict[str, Any]] = [{"type": "header", "text": _plain(title, HEADER_TEXT)}, _asked(pause)]
    status = pause["status"]
    if status == "pending":
        fields = [_mrkdwn(f"*Expires*\n{_stamp(pause['expiresAt'])}")]
        if _required(pause) > 1 or pause.get("approvals"):
            fields.append(_mrkdwn(f"*Approvals*\n{_tally_count(pause)}"))
        blocks.append({"type": "section", "fields": [{**f, "text": cut(f["text"], FIELD_TEXT)} for f in fields]})
    else:
        blocks.append(_section(_outcome(pause)))
    if pause.get("approvals") or (status == "pending" and _required(pause) > 1):
        blocks.append(_section(_tally(pause)))
    blocks += context_sections(pause.get("context") or {})
    blocks.append(_buttons(pause, base_url, decide=decide))
    blocks.append(_context_note(f"Pause `{escape(pause['watchId'])}`"))
    return Message(text=cut(_fallback(title, pause), FALLBACK_TEXT), blocks=blocks[:MAX_BLOCKS])


def _tally_count(pause: dict[str, Any]) -> str:
    approved = sum(1 for a in pause.get("approvals", []) if a.get("decision") == "approved")
    return f"{approved} of {_required(pause)}"


def _outcome(pause: dict[str, Any]) -> str:
    decision = pause.get("decision") or {}
    status = pause["status"]
    title = OUTCOME_TITLES.get(status, status)
    at = decision.get("at") or pause.get("decidedAt")
    when = f" {_stamp(at)}" if at else ""
    by = decision.get("by")
    channel = decision.get("channel")
    if channel == "timeout" and status == "approved":
        text = f"*Approved automatically:* nobody decided in time{when}."
    elif status == "expired" or channel == "timeout":
        text = f"*{title}:* nobody decided in time{when}."
    elif status == "cancelled":
        text = f"*{title}* by {escape(by or 'the agent')}{when}."
    else:
        via = f" (via {channel})" if channel in ("email", "dashboard", "slack") else ""
        text = f"*{title}* by {escape(by or 'the service')}{via}{when}."
    if decision.get("comment"):
        text += f"\n> {_escaped_cut(decision['comment'], COMMENT_CHARS)}"
    return text


def _fallback(title: str, pause: dict[str, Any]) -> str:
    text = f"{title}: {_escaped_cut(pause['action'], ACTION_CHARS)} (requested by {escape(pause['requestedBy'])})"
    decision = pause.get("decision") or {}
    if pause["status"] != "pending" and decision.get("by") and decision.get("channel") != "timeout":
        text += f", {pause['status']} by {escape(decision['by'])}"
    return text
