"""``SlackApi`` (``hitl.domain.ports``) over ``slack_sdk.WebClient``.

One ``WebClient(token=…, base_url=…)`` per call (a plain object: building it costs nothing, and no
token outlives its call).  slack_sdk is imported on the first call, never at import time.  Its
errors become ours: ``SlackApiError(error, retry_after_s)`` with Slack's own code (``ratelimited``
with what ``Retry-After`` asks for), ``unreachable`` when Slack cannot be reached.  Nothing raised
or logged here carries a token, a client secret or an OAuth code: slack_sdk's own log (whose DEBUG
lines name request bodies) is kept at WARNING.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from hitl.domain.ports import SlackApiError, SlackIdentity, SlackInstall

if TYPE_CHECKING:
    from slack_sdk import WebClient

T = TypeVar("T")
#: seconds a call to Slack may take (the notifier's whole invocation has 30)
TIMEOUT_S = 10
#: slack_sdk logs through this, never below WARNING (its DEBUG lines hold request bodies)
SDK_LOGGER = logging.getLogger("hitl.slack_sdk")
SDK_LOGGER.setLevel(logging.WARNING)


class SlackWebApi:
    def __init__(self, base_url: str, timeout_s: int = TIMEOUT_S) -> None:
        #: slack_sdk joins method names to it: it ends with "/"
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.timeout_s = timeout_s

    def _client(self, token: str | None) -> WebClient:
        from slack_sdk import WebClient

        return WebClient(token=token, base_url=self.base_url, timeout=self.timeout_s, logger=SDK_LOGGER)

    def _call(self, method: str, call: Callable[[], T]) -> T:
        from slack_sdk.errors import SlackApiError as SdkApiError
        from slack_sdk.errors import SlackClientError

        try:
            return call()
        except SdkApiError as failed:
            raise _our_error(failed.response) from None
        except (SlackClientError, OSError, ValueError) as failed:  # URLError, timeouts, a body not JSON
            SDK_LOGGER.warning("Slack's %s could not be called: %s", method, type(failed).__name__)
            raise SlackApiError("unreachable") from None

    def auth_test(self, token: str) -> SlackIdentity:
        answer = self._call("auth.test", lambda: self._client(token).auth_test())
        return SlackIdentity(
            teamId=str(answer["team_id"]), teamName=str(answer["team"]), botUserId=str(answer["user_id"])
        )

    def lookup_user_by_email(self, token: str, email: str) -> str | None:
        try:
            answer = self._call("users.lookupByEmail", lambda: self._client(token).users_lookupByEmail(email=email))
        except SlackApiError as failed:
            if failed.error == "users_not_found":
                return None
            raise
        return str(answer["user"]["id"])

    def open_dm(self, token: str, user_id: str) -> str:
        answer = self._call("conversations.open", lambda: self._client(token).conversations_open(users=user_id))
        return str(answer["channel"]["id"])

    def post_message(self, token: str, channel: str, text: str, blocks: list[dict[str, Any]]) -> str:
        answer = self._call(
            "chat.postMessage",
            lambda: self._client(token).chat_postMessage(channel=channel, text=text, blocks=blocks, unfurl_links=False),
        )
        return str(answer["ts"])

    def update_message(self, token: str, channel: str, ts: str, text: str, blocks: list[dict[str, Any]]) -> None:
        self._call(
            "chat.update", lambda: self._client(token).chat_update(channel=channel, ts=ts, text=text, blocks=blocks)
        )

    def post_ephemeral(
        self, token: str, channel: str, user_id: str, text: str, blocks: list[dict[str, Any]] | None = None
    ) -> None:
        self._call(
            "chat.postEphemeral",
            lambda: self._client(token).chat_postEphemeral(channel=channel, user=user_id, text=text, blocks=blocks),
        )

    def oauth_access(self, client_id: str, client_secret: str, code: str, redirect_uri: str) -> SlackInstall:
        answer = self._call(
            "oauth.v2.access",
            lambda: self._client(None).oauth_v2_access(
                client_id=client_id, client_secret=client_secret, code=code, redirect_uri=redirect_uri
            ),
        )
        team = answer.get("team") or {}
        token = answer.get("access_token")
        if answer.get("token_type") not in (None, "bot") or not token or not team.get("id"):
            raise SlackApiError("not_a_bot_install")
        return SlackInstall(
            teamId=str(team["id"]),
            teamName=str(team.get("name") or ""),
            botUserId=str(answer.get("bot_user_id") or ""),
            botToken=str(token),
        )


def _our_error(response: Any) -> SlackApiError:
    """Slack's error code (or the HTTP status when there is none) and, for ``ratelimited``, the
    ``Retry-After`` it asked for."""
    data = response.data if isinstance(response.data, dict) else {}
    status = int(getattr(response, "status_code", 0) or 0)
    code = str(data.get("error") or ("ratelimited" if status == 429 else f"http_{status}"))
    headers = {str(k).lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
    retry_after = headers.get("retry-after")
    if isinstance(retry_after, list):
        retry_after = retry_after[0] if retry_after else None
    try:
        delay = float(retry_after) if retry_after is not None else None
    except (TypeError, ValueError):
        delay = None
    if code == "ratelimited" and delay is None:
        delay = 30.0  # Slack always says; if it did not, wait a while rather than hammer it
    return SlackApiError(code, delay if code == "ratelimited" else None)
