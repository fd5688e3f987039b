"""The owners' settings page: the team's name, the policy floor (what every pause must at least
ask for, whatever its agent sends), and the plan with this month's usage."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl.domain import errors
from hitl.domain.requests import MAX_TIMEOUT_S
from hitl.http import web
from hitl.http.dashboard.guard import PageRequest, page
from hitl.http.dashboard.views import refusal_status, render
from hitl.runtime import services, slack_connect, tenant_admin

router = Router()
#: how the dashboard tells an owner to lower an unmeetable floor (the CLI names its flag)
LOWER_HINT = "set the minimum of approvals to {n}"


def usage_lines(described: dict[str, Any]) -> dict[str, str]:
    """'12 of 50 pauses in 2026-12', '1 of 1 approvers' (no limit: 'no limit on the pro plan')."""
    usage, seats = described["usage"], described["seats"]
    count = f"at least {usage['pauses']}" if usage.get("atLeast") else str(usage["pauses"])
    unlimited = f"(no limit on the {described['plan']} plan)"
    if usage["limit"] is None:
        pauses = f"{count} pause{'' if usage['pauses'] == 1 else 's'} in {usage['month']} {unlimited}"
    else:
        pauses = f"{count} of {usage['limit']} pauses in {usage['month']}"
    if seats["limit"] is None:
        approvers = (
            f"{seats['used']} approver{'' if seats['used'] == 1 else 's'} (no limit on the {described['plan']} plan)"
        )
    else:
        approvers = f"{seats['used']} of {seats['limit']} approvers"
    return {"pauses": pauses, "approvers": approvers}


#: what a ``303`` back to the settings page says about Slack (``?done=<key>``)
SLACK_NOTICES = {
    "slack": "Slack is connected.",
    "slack_disconnected": "Slack is disconnected: its token is deleted and every member's Slack link cleared.",
}


def _slack_notice(request: PageRequest) -> str | None:
    done = request.query("done")
    if done not in SLACK_NOTICES:
        return None
    notice = SLACK_NOTICES[done]
    linked, unmatched = _whole(request.query("linked")), _whole(request.query("unmatched"))
    if done == "slack" and linked is not None:
        notice += f" {linked} member{'' if linked == 1 else 's'} linked by their email"
        notice += (
            f"; {unmatched} not found in the workspace (they can link themselves on their Account page)."
            if unmatched
            else "."
        )
    return notice


def settings_page_with(request: PageRequest, *, status: int = 200, **values: Any) -> Response[str]:
    """The settings page, with a form's refusal or notice (``values``)."""
    return _page(request, status=status, **values)


def _page(request: PageRequest, *, status: int = 200, **values: Any) -> Response[str]:
    who = request.signed_in
    described = tenant_admin(services().store).describe(who.tenant_id)
    values.setdefault("slack_notice", _slack_notice(request))
    return render(
        who,
        "app_settings.html.j2",
        status=status,
        title="Settings",
        current="/app/settings",
        tenant=described,
        usage=usage_lines(described),
        max_timeout=MAX_TIMEOUT_S,
        done=request.query("done"),
        slack=slack_connect().status(who.tenant_id),
        **values,
    )


@page(router, "GET", "/app/settings", "owner")
def settings_page(request: PageRequest) -> Response[str]:
    return _page(request)


@page(router, "POST", "/app/settings/name", "owner")
def rename(request: PageRequest) -> Response[str]:
    try:
        tenant_admin(services().store).rename(request.signed_in.tenant_id, request.form.get("name", ""), **request.by)
    except errors.DomainError as refused:
        return _page(request, status=refusal_status(refused), name_error=refused.message)
    return web.redirect("/app/settings?done=name")


@page(router, "POST", "/app/settings/policy", "owner")
def set_policy(request: PageRequest) -> Response[str]:
    form = request.form
    approvals = _whole(form.get("minRequiredApprovals"))
    timeout = _whole(form.get("minAutoApproveTimeoutSeconds"))
    if approvals is None or timeout is None:
        return _page(
            request,
            status=422,
            policy_error="Give whole numbers: the minimum of approvals (1 or more) and the shortest "
            "auto-approve timeout in seconds (0 or more).",
        )
    try:
        tenant_admin(services().store).set_policy(
            request.signed_in.tenant_id,
            allow_auto_approve=form.get("allowAutoApprove") == "on",
            min_required_approvals=approvals,
            min_auto_approve_timeout_seconds=timeout,
            lower_hint=LOWER_HINT,
            **request.by,
        )
    except errors.DomainError as refused:
        return _page(request, status=refusal_status(refused), policy_error=refused.message)
    return web.redirect("/app/settings?done=policy")


def _whole(text: str | None) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() and len(text) <= 9 else None
