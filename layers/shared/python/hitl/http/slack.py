"""``POST /slack/interactivity``: Slack's call for every Approve / Reject click in a DM.

The request's ``v0`` signature is checked over the raw body before anything else (401 in our
error shape otherwise: nothing read, nothing written).  Then the ``payload`` form field
(``block_actions``) names the Slack team, the user and the button (its value is the watchId); the
click is judged and decided in the request (``hitl.domain.slack_clicks``), and Slack gets its
``200`` (an empty body: a ``block_actions`` answer is never shown).  The decision's events then
update every DM of the pause (the notifier's ``slack-updates``).  Slack's retries
(``X-Slack-Retry-Num``) and a replayed request are the same click again: nothing is decided twice.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import parse_qs

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from hitl.domain import errors
from hitl.domain.slack_clicks import Choice, Click
from hitl.http.app import domain_response, error_response, handles
from hitl.http.slack_signature import RETRY_HEADER, raw_body, verify
from hitl.observability import logger, metrics
from hitl.runtime import slack_clicks
from hitl.settings import get_settings
from hitl.slack import blocks
from hitl.slack.secrets import signing_secret

ROUTE = "/slack/interactivity"
#: Slack's interactivity form has one field (``payload``); room for a few, never thousands
MAX_FIELDS = 5
#: the action ids of the DM's buttons (``hitl.slack.blocks``) and the decision each records
ACTIONS: dict[str, Choice] = {blocks.APPROVE: "approved", blocks.REJECT: "rejected"}
#: a click's payload is a few kilobytes; Slack's own limit on what it posts is far below this
MAX_PAYLOAD_CHARS = 64 * 1024


def parse_click(form: dict[str, str]) -> Click | None:
    """The click a ``block_actions`` payload describes; ``None`` for an interaction that is not
    one of our buttons (nothing to do); ``BadRequest`` for a payload that is not Slack's shape."""
    payload_text = form.get("payload")
    if not payload_text or len(payload_text) > MAX_PAYLOAD_CHARS:
        raise errors.BadRequest("The form has no Slack payload.", code="invalid_slack_payload")
    try:
        payload = json.loads(payload_text)
    except ValueError as unreadable:
        raise errors.BadRequest("The Slack payload is not JSON.", code="invalid_slack_payload") from unreadable
    if not isinstance(payload, dict):
        raise errors.BadRequest("The Slack payload is not an object.", code="invalid_slack_payload")
    if payload.get("type") != "block_actions":
        return None
    team, user, actions = _field(payload, "team"), _field(payload, "user"), payload.get("actions")
    if not isinstance(actions, list) or not actions or not isinstance(actions[0], dict):
        raise errors.BadRequest("The Slack payload names no action.", code="invalid_slack_payload")
    action = actions[0]
    choice = ACTIONS.get(str(action.get("action_id", "")))
    if choice is None:
        return None  # another element of a message (a link button): nothing to decide
    team_id, user_id, watch_id = team.get("id"), user.get("id"), action.get("value")
    if not all(isinstance(v, str) and v for v in (team_id, user_id, watch_id)):
        raise errors.BadRequest("The Slack payload lacks its team, user or pause.", code="invalid_slack_payload")
    channel = payload.get("channel")
    container = payload.get("container")
    channel_id = (channel.get("id") if isinstance(channel, dict) else None) or (
        container.get("channel_id") if isinstance(container, dict) else None
    )
    return Click(
        team_id=str(team_id),
        user_id=str(user_id),
        watch_id=str(watch_id),
        decision=choice,
        channel_id=str(channel_id) if isinstance(channel_id, str) and channel_id else None,
    )


def form_of(body: bytes) -> dict[str, str]:
    """The form's fields (the first value of each).  Not ``hitl.http.web``'s: that module brings
    the page templates (jinja2, ~90 ms of every cold start), which this function never renders."""
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS)
    except ValueError as unreadable:  # more fields than Slack's form has; verify checked it is UTF-8
        raise errors.BadRequest(
            "The body is not Slack's interactivity form.", code="invalid_slack_payload"
        ) from unreadable
    return {name: values[0] for name, values in fields.items()}


def _field(payload: dict[str, Any], name: str) -> dict[str, Any]:
    value = payload.get(name)
    if not isinstance(value, dict):
        raise errors.BadRequest(f"The Slack payload has no {name}.", code="invalid_slack_payload")
    return value


def ack() -> Response[str]:
    """What Slack waits for (within 3 s): a 200; the body of a ``block_actions`` answer is never shown."""
    return Response(status_code=200, content_type="text/plain", body="")


def build() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.post(ROUTE)
    def interactivity() -> Response[Any]:
        event = app.current_event
        if not get_settings().slack_enabled:
            return error_response(404, "slack_not_configured", "This deployment has no Slack app.")
        body = raw_body(event.raw_event)
        verify(event.headers, body, signing_secret, time.time())  # before anything else
        assert body is not None  # verify refuses a body it could not read
        click = parse_click(form_of(body))
        retry = event.headers.get(RETRY_HEADER)
        if retry:
            logger.info("slack retry", extra={"retry": retry, "reason": event.headers.get("x-slack-retry-reason")})
        if click is None:
            return ack()
        logger.append_keys(watch_id=click.watch_id)
        result = slack_clicks().click(click)
        if result.kind == "decided":
            metrics.add_metric(name="SlackDecision", unit="Count", value=1)
        return ack()

    @handles(app, errors.DomainError)
    def _domain(error: errors.DomainError) -> Response[Any]:
        return domain_response(error)

    @handles(app, Exception)
    def _unexpected(error: Exception) -> Response[Any]:
        logger.exception("slack interactivity failed")
        return error_response(500, "internal_error", "Something went wrong on our side; it has been logged.")

    @app.not_found
    def _not_found(_: Exception) -> Response[Any]:
        return error_response(
            404, "route_not_found", f"No route {app.current_event.http_method} {app.current_event.path}."
        )

    return app
