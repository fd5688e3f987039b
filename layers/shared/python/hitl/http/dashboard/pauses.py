"""The members' pages: what waits for me, one pause, the history; and the product page's route
``POST /api/pause/{watchId}/approve``, which decides with a session (JSON or the page's form)."""

from __future__ import annotations

import json
from typing import Any, Literal

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl import timeutil
from hitl.domain import errors
from hitl.domain.models import STATUSES, pause_view
from hitl.domain.reviewing import HistoryFilter, may_decide
from hitl.http import web
from hitl.http.dashboard.guard import PageRequest, html_refusal, page
from hitl.http.dashboard.views import render
from hitl.http.json_body import JSON
from hitl.notify.render import pretty_context
from hitl.runtime import services

router = Router()
DECISIONS: dict[str, Literal["approved", "rejected"]] = {"approved": "approved", "rejected": "rejected"}
MAX_COMMENT = 2000
FORM = "application/x-www-form-urlencoded"
#: how often the waiting list refreshes itself (the page works without it)
REFRESH_SECONDS = 15
REFRESH_SCRIPT = f"""(function () {{
  var list = document.getElementById("waiting");
  if (!list || !window.fetch) return;
  setInterval(function () {{
    if (document.hidden) return;
    fetch("/app", {{credentials: "same-origin", headers: {{"Accept": "text/html"}}}})
      .then(function (r) {{ return r.ok ? r.text() : null; }})
      .then(function (text) {{
        if (!text) return;
        var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("waiting");
        if (fresh && fresh.innerHTML !== list.innerHTML) list.innerHTML = fresh.innerHTML;
      }})
      .catch(function () {{}});
  }}, {REFRESH_SECONDS * 1000});
}})();
"""


@page(router, "GET", "/app", "member")
def waiting(request: PageRequest) -> Response[str]:
    who = request.signed_in
    pauses = services().pauses.waiting_for(who.tenant_id, who.email)
    response = render(
        who, "app_waiting.html.j2", title="Waiting for you", current="/app", pauses=pauses, now=timeutil.now()
    )
    response.headers["Content-Security-Policy"] = web.CSP + "; script-src 'self'; connect-src 'self'"
    return response


@page(router, "GET", "/app/refresh.js", "member")
def refresh_script(request: PageRequest) -> Response[str]:
    return Response(
        status_code=200,
        content_type="text/javascript; charset=utf-8",
        body=REFRESH_SCRIPT,
        headers={**web.SECURITY_HEADERS},
    )


@page(router, "GET", "/app/pauses/{watchId}", "member")
def pause_page(request: PageRequest, watchId: str) -> Response[str]:
    who = request.signed_in
    try:
        head, body, timeline = services().pauses.pause_of_team(who.tenant_id, watchId)
    except errors.NotFound:
        return render(
            who,
            "app_message.html.j2",
            status=404,
            title="No such pause",
            message="It does not exist, or belongs to another team.",
        )
    context_text, _ = pretty_context(body.context, limit=None)
    return render(
        who,
        "app_pause.html.j2",
        title=head.action[:80],
        pause=pause_view(head, body),
        context_text=context_text,
        metadata=body.metadata,
        timeline=timeline,
        can_decide=may_decide(head, who.email),
        named=who.email in head.policy.approvers,
        decided=request.query("decided"),
    )


@page(router, "GET", "/app/history", "member")
def history(request: PageRequest) -> Response[str]:
    who = request.signed_in
    status = request.query("status")
    wanted = HistoryFilter(
        status=status if status in STATUSES else None,  # type: ignore[arg-type]
        approver=(request.query("approver") or "").lower() or None,
        text=request.query("q"),
        created_from=_day(request.query("from")),
        created_before=_day(request.query("to"), next_day=True),
    )
    try:
        found = services().pauses.history(who.tenant_id, wanted, request.query("cursor"))
    except errors.BadRequest as bad:
        return render(who, "app_message.html.j2", status=400, title="Not a page of this list", message=bad.message)
    shown_filters = {k: request.query(k) or "" for k in ("status", "approver", "q", "from", "to")}
    return render(
        who,
        "app_history.html.j2",
        title="History",
        current="/app/history",
        pauses=found.items,
        next_cursor=found.next_cursor,
        filters=shown_filters,
        statuses=STATUSES,
    )


def _day(text: str | None, *, next_day: bool = False) -> str | None:
    """``2026-12-01`` → the RFC 3339 instant it starts (or the next day's start); else None."""
    if not text:
        return None
    try:
        day = timeutil.parse(f"{text}T00:00:00Z")
    except ValueError:
        return None
    if next_day:
        from datetime import timedelta

        day += timedelta(days=1)
    return timeutil.iso(day)


def _json_refusal(request: PageRequest, status: int, code: str, message: str) -> Response[Any]:
    """The page's own form is answered with a page; everyone else (agents, scripts) in our JSON
    error shape, where every 401 says a dashboard session is needed."""
    kind = (request.event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind == FORM and not request.event.headers.get("authorization"):
        return html_refusal(request, status, code, message)
    if status == 401:
        code = "dashboard_session_required"
        message = "Deciding needs a dashboard session; API keys cannot approve or reject."
    return web_error(status, code, message)


def web_error(status: int, code: str, message: str, details: dict[str, Any] | None = None) -> Response[Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return Response(
        status_code=status, content_type=JSON, body=json.dumps({"error": error}), headers={"Cache-Control": "no-store"}
    )


STATUS_OF = {
    errors.NotFound: 404,
    errors.Forbidden: 403,
    errors.Conflict: 409,
    errors.Gone: 410,
    errors.Unprocessable: 422,
    errors.BadRequest: 400,
}


@page(router, "POST", "/api/pause/{watchId}/approve", "member", refuse=_json_refusal)
def decide(request: PageRequest, watchId: str) -> Response[Any]:
    """JSON ``{"decision", "comment"?}`` with ``X-CSRF-Token`` → 200 with the pause; the page's
    form (``decision``, ``comment``, ``csrf``) → 303 back to the pause's page."""
    who = request.signed_in
    kind = (request.event.headers.get("content-type") or "").split(";")[0].strip().lower()
    if kind not in (JSON, FORM):
        return web_error(415, "unsupported_media_type", f"Send JSON ({JSON}) or the page's form.")
    if request.wants_json:
        fields = _json_fields(request)
        if isinstance(fields, Response):
            return fields
    else:
        fields = request.form
    decision = DECISIONS.get(str(fields.get("decision", "")))
    comment = fields.get("comment")
    if decision is None or (comment is not None and not isinstance(comment, str)):
        return _refuse_decision(
            request,
            watchId,
            422,
            "validation_error",
            'Send "decision": "approved" or "rejected" (and an optional text "comment").',
        )
    comment = (comment or "").strip() or None
    if comment and len(comment) > MAX_COMMENT:
        return _refuse_decision(
            request, watchId, 422, "validation_error", f"The comment is longer than {MAX_COMMENT} characters."
        )
    try:
        head = services().pauses.decide_as_member(who.tenant_id, watchId, who.email, decision, comment)
    except errors.DomainError as refused:
        status = next((s for cls, s in STATUS_OF.items() if isinstance(refused, cls)), 400)
        return _refuse_decision(request, watchId, status, refused.code, refused.message, refused.details)
    if request.wants_json:
        return Response(
            status_code=200,
            content_type=JSON,
            body=json.dumps(pause_view(head, None)),
            headers={"Cache-Control": "no-store"},
        )
    return web.redirect(f"/app/pauses/{watchId}?decided={head.status}")


def _json_fields(request: PageRequest) -> dict[str, Any] | Response[Any]:
    try:
        parsed = json.loads(request.event.decoded_body or "")
    except (ValueError, RecursionError):
        return web_error(400, "malformed_json", "The request body is not valid JSON.")
    if not isinstance(parsed, dict):
        return web_error(422, "validation_error", "The body must be a JSON object.")
    unknown = sorted(set(parsed) - {"decision", "comment"})
    if unknown:
        return web_error(422, "validation_error", f"Unknown fields: {', '.join(unknown)}.")
    return parsed


def _refuse_decision(
    request: PageRequest, watch_id: str, status: int, code: str, message: str, details: dict[str, Any] | None = None
) -> Response[Any]:
    if request.wants_json:
        return web_error(status, code, message, details)
    return render(
        request.who,
        "app_message.html.j2",
        status=status,
        title="Not recorded",
        message=message,
        back=f"/app/pauses/{watch_id}",
    )
