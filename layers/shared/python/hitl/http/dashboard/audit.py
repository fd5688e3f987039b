"""The audit log on the dashboard: what the team's plan shows (members), and its export (owners,
Pro): ``/app/audit/export?format=csv|jsonl``, the whole retained log, oldest first."""

from __future__ import annotations

from datetime import UTC, datetime

from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router

from hitl.domain import errors
from hitl.domain.audit_log import AUDIT_TIERS
from hitl.domain.models import PlanName
from hitl.domain.team_events import TEAM_EVENTS
from hitl.http import web
from hitl.http.dashboard.guard import PageRequest, page
from hitl.http.dashboard.views import render
from hitl.runtime import services

router = Router()
PAUSE_EVENTS = (
    "pause.created",
    "pause.approval_recorded",
    "pause.approved",
    "pause.rejected",
    "pause.expired",
    "pause.cancelled",
    "pause.notification_failed",
    "pause.reminder_due",
)
EXPORT_TYPES = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson; charset=utf-8"}


def _plan(tenant_id: str) -> PlanName:
    tenant = services().store.tenants.get_tenant(tenant_id)
    return tenant.plan if tenant else "free"


@page(router, "GET", "/app/audit", "member")
def audit_page(request: PageRequest) -> Response[str]:
    who = request.signed_in
    plan = _plan(who.tenant_id)
    tier = AUDIT_TIERS[plan]
    type_ = request.query("type")
    types = PAUSE_EVENTS + (TEAM_EVENTS if tier.team_events else ())
    try:
        found = services().audit.list_audit(
            who.tenant_id,
            plan,
            type_=type_ if type_ in types else None,
            cursor=request.query("cursor"),  # type: ignore[arg-type]
        )
    except errors.BadRequest as bad:
        return render(who, "app_message.html.j2", status=400, title="Not a page of this log", message=bad.message)
    return render(
        who,
        "app_audit.html.j2",
        title="Audit log",
        current="/app/audit",
        entries=found.entries,
        next_cursor=found.next_cursor,
        plan=plan,
        tier=tier,
        types=types,
        chosen=type_ or "",
    )


@page(router, "GET", "/app/audit/export", "owner")
def export(request: PageRequest) -> Response[str]:
    who = request.signed_in
    fmt = request.query("format") or "jsonl"
    try:
        lines = services().audit.export(who.tenant_id, _plan(who.tenant_id), fmt)
    except errors.PlanRequired as needed:
        return render(
            who,
            "app_message.html.j2",
            status=402,
            title="Export is part of the Pro plan",
            message=needed.message,
            back="/app/audit",
        )
    except errors.BadRequest as bad:
        return render(
            who, "app_message.html.j2", status=400, title="Not an export format", message=bad.message, back="/app/audit"
        )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return Response(
        status_code=200,
        content_type=EXPORT_TYPES[fmt],
        body="".join(lines),
        headers={
            **web.SECURITY_HEADERS,
            "Content-Disposition": f'attachment; filename="hitl-audit-{who.tenant_id}-{stamp}.{fmt}"',
        },
    )
