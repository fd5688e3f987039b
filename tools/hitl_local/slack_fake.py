"""The local stack's fake Slack: the Web API the service calls, a page showing the DMs it sent,
and buttons on that page that send Slack's own signed interactivity request back to the stack.

* ``POST /_local/slack/api/{method}``: ``auth.test`` (team ``T0LOCAL``, bot ``U0LOCALBOT``),
  ``users.lookupByEmail`` (the members of the stack's teams, each with a Slack id derived from
  the email, so it is stable across restarts), ``conversations.open``, ``chat.postMessage``,
  ``chat.update``, ``chat.postEphemeral``, ``oauth.v2.access`` (a fake bot token for the fake
  team).  It is a test double: any token is accepted.
* ``GET /_local/slack/messages.json``: every call it answered, oldest first, as
  ``{method, channel, ts, text, blocks, user?, at}`` (a ``chat.update`` keeps the ``ts`` of the
  message it changes).  Kept in the state directory (``slack.json``) across restarts.
* ``GET /_local/slack``: each message as it now reads, newest first; its Approve and Reject buttons
  post to ``/_local/slack/click``, which sends Slack's ``block_actions`` payload (form-encoded
  ``payload=``, signed ``v0`` with the local signing secret, ``X-Slack-Request-Timestamp``) to the
  stack's ``POST /slack/interactivity`` from the server side, and shows what it answered.
* ``POST /_local/slack/respond``: a ``response_url`` (what the service says back to the clicker).
* ``GET /_local/slack/oauth/authorize``: Slack's install page, approved at once: back to the
  ``redirect_uri`` (on this stack only) with a code and the ``state``.
"""

from __future__ import annotations

import base64
import hashlib
import html as markup
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

from hitl_local import apigw, state

TEAM_ID = "T0LOCAL"
TEAM_NAME = "Local Slack"
BOT_USER_ID = "U0LOCALBOT"
BOT_ID = "B0LOCALBOT"
APP_ID = "A0LOCALAPP"
#: what ``oauth.v2.access`` hands out (a fake: the fake accepts any token)
BOT_TOKEN = "xoxb-local-fake-bot-token"  # noqa: S105 (a fake's)
OAUTH_CODE = "local-oauth-code"
CLIENT_ID = "local.client"
PREFIX = "/_local/slack"
API_PREFIX = f"{PREFIX}/api/"
MESSAGES_FILE = "slack.json"
#: ``apigw.Request`` -> answer
Handler = Callable[[apigw.Request], apigw.HttpResponse]
#: POSTs ``body`` with ``headers`` to a URL: (status, body text)
Poster = Callable[[str, bytes, dict[str, str]], tuple[int, str]]


def user_id(email: str) -> str:
    """The fake Slack id of ``email``: derived from it, so the same across restarts."""
    digest = hashlib.sha256(email.strip().lower().encode()).digest()
    return "U" + base64.b32encode(digest).decode()[:10]


def dm_channel(slack_user: str) -> str:
    return "D" + slack_user[1:]


def user_of_channel(channel: str) -> str:
    return "U" + channel[1:]


def post_http(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 (our own http URL)
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return answer.status, answer.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as failed:
        return failed.code, failed.read().decode("utf-8", "replace")


class FakeSlack:
    """``is_member(email)``: whether the stack knows that person (a member of one of its teams);
    ``signing_secret``: what signs the clicks; ``stack_url``: where they are sent."""

    def __init__(
        self,
        state_dir: Path,
        *,
        signing_secret: str,
        stack_url: str,
        is_member: Callable[[str], bool],
        post: Poster = post_http,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = state_dir / MESSAGES_FILE
        self.signing_secret = signing_secret
        self.stack_url = stack_url.rstrip("/")
        self.is_member = is_member
        self.post = post
        self.clock = clock
        self.lock = threading.Lock()
        saved = state.read_json(self.path) if self.path.exists() else None
        self.calls: list[dict[str, Any]] = list(saved) if isinstance(saved, list) else []
        self._last_ts = max((float(c["ts"]) for c in self.calls if c.get("ts")), default=0.0)

    def routes(self) -> dict[tuple[str, str], Handler]:
        return {
            ("GET", PREFIX): self.page,
            ("GET", f"{PREFIX}/messages.json"): self.messages_json,
            ("POST", f"{PREFIX}/click"): self.click,
            ("POST", f"{PREFIX}/respond"): self.respond,
            ("GET", f"{PREFIX}/oauth/authorize"): self.authorize,
        }

    # --- the Web API ------------------------------------------------------------------------

    def api(self, request: apigw.Request) -> apigw.HttpResponse:
        method = request.path[len(API_PREFIX) :]
        args = _arguments(request)
        answer = self._answer(method, args)
        return _json(200, answer)

    def _answer(self, method: str, args: dict[str, Any]) -> dict[str, Any]:
        if method == "auth.test":
            self._record(method)
            return {
                "ok": True,
                "url": "https://local.slack.test/",
                "team": TEAM_NAME,
                "team_id": TEAM_ID,
                "user": "hitl",
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
            }
        if method == "users.lookupByEmail":
            email = str(args.get("email", "")).strip().lower()
            self._record(method, user=user_id(email) if email else None)
            if not email or not self.is_member(email):
                return {"ok": False, "error": "users_not_found"}
            return {
                "ok": True,
                "user": {
                    "id": user_id(email),
                    "team_id": TEAM_ID,
                    "name": email.split("@")[0],
                    "profile": {"email": email},
                },
            }
        if method == "conversations.open":
            users = str(args.get("users", ""))
            if not users.startswith("U") or "," in users:
                return {"ok": False, "error": "user_not_found"}
            channel = dm_channel(users)
            self._record(method, channel=channel, user=users)
            return {"ok": True, "channel": {"id": channel}}
        if method in ("chat.postMessage", "chat.postEphemeral"):
            channel = str(args.get("channel", ""))
            if not channel:
                return {"ok": False, "error": "channel_not_found"}
            ts = self._next_ts()
            user = str(args["user"]) if method == "chat.postEphemeral" and args.get("user") else None
            self._record(method, channel=channel, ts=ts, text=args.get("text"), blocks=_blocks(args), user=user)
            return {"ok": True, "channel": channel, "ts": ts, "message_ts": ts}
        if method == "chat.update":
            channel, ts = str(args.get("channel", "")), str(args.get("ts", ""))
            if not any(
                c["method"] == "chat.postMessage" and (c["channel"], c["ts"]) == (channel, ts) for c in self.calls
            ):
                return {"ok": False, "error": "message_not_found"}
            self._record(method, channel=channel, ts=ts, text=args.get("text"), blocks=_blocks(args))
            return {"ok": True, "channel": channel, "ts": ts}
        if method == "oauth.v2.access":
            self._record(method)
            if args.get("code") != OAUTH_CODE:
                return {"ok": False, "error": "invalid_code"}
            return {
                "ok": True,
                "token_type": "bot",
                "access_token": BOT_TOKEN,
                "bot_user_id": BOT_USER_ID,
                "app_id": APP_ID,
                "scope": "chat:write,users:read,users:read.email,im:write",
                "team": {"id": TEAM_ID, "name": TEAM_NAME},
                "enterprise": None,
            }
        return {"ok": False, "error": "unknown_method"}

    def _next_ts(self) -> str:
        with self.lock:
            self._last_ts = max(self.clock(), self._last_ts + 0.000001)
            return f"{self._last_ts:.6f}"

    def _record(self, method: str, **fields: Any) -> None:
        call = {
            "method": method,
            "channel": None,
            "ts": None,
            "text": None,
            "blocks": None,
            **fields,
            "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        if call.get("user") is None:
            call.pop("user", None)
        with self.lock:
            self.calls.append(call)
            state.write_json(self.path, self.calls)

    # --- what it shows ----------------------------------------------------------------------

    def messages_json(self, request: apigw.Request) -> apigw.HttpResponse:
        with self.lock:
            return _json(200, list(self.calls))

    def current(self) -> list[dict[str, Any]]:
        """Each message as it now reads (its post with its latest update), newest first; ephemeral
        messages and ``response_url`` answers too."""
        latest: dict[tuple[str, str], dict[str, Any]] = {}
        with self.lock:
            calls = list(self.calls)
        for call in calls:
            if call["method"] in ("chat.postMessage", "chat.postEphemeral", "response_url"):
                latest[(call["channel"], call["ts"])] = {**call, "updated": False}
            elif call["method"] == "chat.update" and (call["channel"], call["ts"]) in latest:
                latest[(call["channel"], call["ts"])].update(text=call["text"], blocks=call["blocks"], updated=True)
        return sorted(latest.values(), key=lambda m: float(m["ts"]), reverse=True)

    def page(self, request: apigw.Request) -> apigw.HttpResponse:
        items = (
            "".join(_render_message(m) for m in self.current()) or "<p>No messages yet. Create a pause and reload.</p>"
        )
        return _page(
            "Local Slack",
            f"""<h1>Local Slack</h1><p class="meta">Workspace {TEAM_NAME} ({TEAM_ID}): every
message the stack sent, newest first, as it now reads.
As JSON: <a href="{PREFIX}/messages.json">{PREFIX}/messages.json</a></p>
{items}""",
        )

    # --- a click ----------------------------------------------------------------------------

    def click(self, request: apigw.Request) -> apigw.HttpResponse:
        """A button of the page: Slack's signed ``block_actions`` request to the stack, from here."""
        if _cross_site(request):
            return _page("Refused", "<p>Cross-site request refused.</p>", status=403)
        form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
        channel, ts, action_id = form.get("channel", ""), form.get("ts", ""), form.get("action_id", "")
        message = next((m for m in self.current() if (m["channel"], m["ts"]) == (channel, ts)), None)
        element = _element(message, action_id) if message else None
        if message is None or element is None:
            return _page("No such button", "<p>That message has no such button (any more).</p>", status=404)
        since = len(self.calls)
        status, body = self.send_click(message, element)
        said = [
            c for c in self.calls[since:] if c.get("user") == user_of_channel(channel) or c["method"] == "response_url"
        ]
        answer = (
            "".join(f"<blockquote>{markup.escape(str(c.get('text') or ''))}</blockquote>" for c in said)
            or "<p>(no ephemeral message)</p>"
        )
        return _page(
            "Clicked",
            f"""<h1>{markup.escape(element["text"]["text"])} clicked</h1>
<p>POST /slack/interactivity answered <strong id="status">{status}</strong>.</p>
<pre id="body">{markup.escape(body[:2000])}</pre><h2>What the clicker was told</h2><div id="ephemeral">{answer}</div>
<p><a href="{PREFIX}">Back to the messages</a></p>""",
        )

    def click_payload(self, message: dict[str, Any], element: dict[str, Any]) -> dict[str, Any]:
        """Slack's ``block_actions`` payload of a click on ``element`` of ``message`` (a DM)."""
        channel, ts = message["channel"], message["ts"]
        clicker = user_of_channel(channel)
        block_id = next(
            (b.get("block_id") for b in message.get("blocks") or [] if element in (b.get("elements") or [])), None
        )
        return {
            "type": "block_actions",
            "user": {"id": clicker, "username": clicker.lower(), "name": clicker.lower(), "team_id": TEAM_ID},
            "api_app_id": APP_ID,
            "token": "local-verification-token",
            "container": {"type": "message", "message_ts": ts, "channel_id": channel, "is_ephemeral": False},
            "trigger_id": f"{int(self.clock())}.local.trigger",
            "team": {"id": TEAM_ID, "domain": "local"},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel, "name": "directmessage"},
            "message": {
                "type": "message",
                "user": BOT_USER_ID,
                "ts": ts,
                "bot_id": BOT_ID,
                "text": message.get("text"),
                "blocks": message.get("blocks"),
            },
            "state": {"values": {}},
            "response_url": f"{self.stack_url}{PREFIX}/respond?" + urlencode({"channel": channel, "user": clicker}),
            "actions": [
                {
                    "type": "button",
                    "action_id": element["action_id"],
                    "block_id": block_id,
                    "text": element["text"],
                    "value": element.get("value"),
                    **({"style": element["style"]} if "style" in element else {}),
                    "action_ts": f"{self.clock():.6f}",
                }
            ],
        }

    def signed_request(self, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
        """The form body Slack sends and its headers, signed as Slack signs (slack_sdk's own signer)."""
        from slack_sdk.signature import SignatureVerifier

        body = urlencode({"payload": json.dumps(payload, separators=(",", ":"))}).encode()
        timestamp = str(int(self.clock()))
        signature = SignatureVerifier(self.signing_secret).generate_signature(timestamp=timestamp, body=body)
        return body, {
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": str(signature),
            "User-Agent": "Slackbot 1.0 (+https://api.slack.com/robots)",
        }

    def send_click(self, message: dict[str, Any], element: dict[str, Any]) -> tuple[int, str]:
        body, headers = self.signed_request(self.click_payload(message, element))
        return self.post(f"{self.stack_url}/slack/interactivity", body, headers)

    def respond(self, request: apigw.Request) -> apigw.HttpResponse:
        """A ``response_url``: what the service says back to the clicker (ephemeral by default)."""
        query = {k: v[0] for k, v in parse_qs(request.query).items()}
        try:
            said = json.loads(request.body or b"{}")
        except ValueError:
            return _json(400, {"ok": False, "error": "invalid_json"})
        self._record(
            "response_url",
            channel=query.get("channel"),
            ts=self._next_ts(),
            text=said.get("text"),
            blocks=said.get("blocks"),
            user=query.get("user"),
        )
        return _json(200, {"ok": True})

    # --- the install page -------------------------------------------------------------------

    def authorize(self, request: apigw.Request) -> apigw.HttpResponse:
        """Slack's "Allow" page, allowed at once: back to the app's redirect URL (on this stack)."""
        query = {k: v[0] for k, v in parse_qs(request.query).items()}
        redirect = query.get("redirect_uri", "")
        if urlsplit(redirect)[:2] != urlsplit(self.stack_url)[:2] or not query.get("state"):
            return _page("Refused", "<p>redirect_uri must be on this stack, and state is required.</p>", status=400)
        separator = "&" if "?" in redirect else "?"
        location = redirect + separator + urlencode({"code": OAUTH_CODE, "state": query["state"]})
        return apigw.HttpResponse(302, {"location": location, "cache-control": "no-store"}, b"")


def _arguments(request: apigw.Request) -> dict[str, Any]:
    """A Web API call's arguments: JSON, or a form (slack_sdk sends either), and the query."""
    args: dict[str, Any] = {k: v[0] for k, v in parse_qs(request.query).items()}
    content_type = {k.lower(): v for k, v in request.headers.items()}.get("content-type", "")
    if "json" in content_type:
        try:
            parsed = json.loads(request.body or b"{}")
        except ValueError:
            parsed = {}
        if isinstance(parsed, dict):
            args.update(parsed)
    else:
        args.update({k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()})
    return args


def _blocks(args: dict[str, Any]) -> list[dict[str, Any]] | None:
    blocks = args.get("blocks")
    if isinstance(blocks, str):
        try:
            blocks = json.loads(blocks)
        except ValueError:
            return None
    return blocks if isinstance(blocks, list) else None


def _element(message: dict[str, Any], action_id: str) -> dict[str, Any] | None:
    for block in message.get("blocks") or []:
        for element in block.get("elements") or []:
            if block.get("type") == "actions" and element.get("action_id") == action_id and "url" not in element:
                return dict(element)
    return None


def _cross_site(request: apigw.Request) -> bool:
    headers = {k.lower(): v for k, v in request.headers.items()}
    return headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")


def _json(status: int, body: Any) -> apigw.HttpResponse:
    return apigw.HttpResponse(status, {"content-type": "application/json; charset=utf-8"}, json.dumps(body).encode())


def _page(title: str, body: str, status: int = 200) -> apigw.HttpResponse:
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{markup.escape(title)} · HITL</title>
<style>body{{font:15px/1.5 system-ui,sans-serif;margin:0;background:#f4ede4}}
main{{max-width:760px;margin:auto;padding:16px}}
article{{background:#fff;border-radius:8px;padding:12px 16px;margin:0 0 16px}}
.meta{{color:#57606a;margin:0 0 8px}}.mrkdwn{{white-space:pre-wrap;overflow-wrap:anywhere;margin:6px 0}}
pre{{white-space:pre-wrap;overflow-wrap:anywhere;background:#f6f8fa;padding:6px}}
.actions{{display:flex;gap:8px;flex-wrap:wrap}}.actions form{{margin:0}}
button,.button{{font:inherit;padding:6px 14px;border-radius:4px;border:1px solid #8c959f;background:#fff;
cursor:pointer;color:inherit;text-decoration:none}}
.primary{{background:#007a5a;color:#fff;border-color:#007a5a}}.danger{{background:#e01e5a;color:#fff;border-color:#e01e5a}}
.tag{{font-size:12px;color:#57606a}}</style></head>
<body><main>{body}</main></body></html>"""
    return apigw.HttpResponse(
        status, {"content-type": "text/html; charset=utf-8", "cache-control": "no-store"}, page.encode()
    )


def _render_message(message: dict[str, Any]) -> str:
    """One message, its blocks shown plainly (mrkdwn as text); buttons as forms to ``/click``."""
    parts = []
    for block in message.get("blocks") or []:
        kind = block.get("type")
        if kind == "header":
            parts.append(f"<h2>{markup.escape(block['text']['text'])}</h2>")
        elif kind == "section":
            texts = [block["text"]["text"]] if "text" in block else []
            texts += [f["text"] for f in block.get("fields", [])]
            parts += [f'<div class="mrkdwn">{markup.escape(t)}</div>' for t in texts]
        elif kind == "context":
            parts += [
                f'<div class="mrkdwn tag">{markup.escape(e.get("text", ""))}</div>' for e in block.get("elements", [])
            ]
        elif kind == "actions":
            buttons = []
            for element in block.get("elements", []):
                label = markup.escape(element["text"]["text"])
                style = markup.escape(element.get("style", ""))
                if "url" in element:
                    buttons.append(f'<a class="button" href="{markup.escape(element["url"])}">{label}</a>')
                    continue
                confirm = element.get("confirm", {}).get("text", {}).get("text", "")
                onsubmit = f' onsubmit="return confirm({markup.escape(json.dumps(confirm))})"' if confirm else ""
                buttons.append(
                    f'<form method="post" action="{PREFIX}/click"{onsubmit}>'
                    f'<input type="hidden" name="channel" value="{markup.escape(message["channel"])}">'
                    f'<input type="hidden" name="ts" value="{markup.escape(message["ts"])}">'
                    f'<input type="hidden" name="action_id" value="{markup.escape(element["action_id"])}">'
                    f'<button type="submit" class="{style}" data-action-id="{markup.escape(element["action_id"])}">'
                    f"{label}</button></form>"
                )
            parts.append(f'<div class="actions">{"".join(buttons)}</div>')
    if not message.get("blocks"):
        parts.append(f'<div class="mrkdwn">{markup.escape(str(message.get("text") or ""))}</div>')
    kind = {"chat.postEphemeral": "ephemeral", "response_url": "response"}.get(message["method"], "message")
    meta = f"{kind} in {message['channel']} · ts {message['ts']}" + (" · updated" if message.get("updated") else "")
    if message.get("user"):
        meta += f" · only {message['user']} sees it"
    shown = "".join(parts)
    return (
        f'<article data-ts="{markup.escape(message["ts"])}"><p class="meta">{markup.escape(meta)}</p>{shown}</article>'
    )
