"""The approvers' link pages.  GET and HEAD only ever show a page (mail scanners fetch every
link, some run JavaScript): the decision is the form's POST, made with the link's token."""

from __future__ import annotations

from typing import Any, Literal

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response

from hitl.domain import errors
from hitl.domain.models import PauseHead, pause_view
from hitl.http import web
from hitl.http.app import handles
from hitl.notify.render import pretty_context
from hitl.observability import logger
from hitl.runtime import services
from hitl.settings import get_settings

CHOICES: dict[str, Literal["approved", "rejected"] | None] = {"approve": "approved", "reject": "rejected", "view": None}
MAX_COMMENT = 2000
#: the confirmation form sends decision and comment; room for a few more, never thousands
MAX_FIELDS = 10
DECISIONS: dict[str, Literal["approved", "rejected"]] = {"approved": "approved", "rejected": "rejected"}


def html(status: int, template: str, **values: Any) -> Response[str]:
    return web.html(status, template, **values)


def outcome_page(status: int, headline: str, explanation: str, head: PauseHead | None = None) -> Response[str]:
    shown = pause_view(head, None) if head else None
    return html(status, "outcome.html.j2", title=headline, headline=headline, explanation=explanation, pause=shown)


def why_not(head: PauseHead) -> Response[str]:
    """The page for a link whose pause can no longer be decided."""
    if head.status == "expired":
        return outcome_page(410, "This request expired", "Nothing can be decided after it expires.", head)
    if head.status == "cancelled":
        return outcome_page(410, "This request was withdrawn", "The agent cancelled it; nothing to decide.", head)
    return outcome_page(409, f"Already {head.status}", "This request was decided already.", head)


def build() -> APIGatewayHttpResolver:
    app = APIGatewayHttpResolver()

    @app.route("/a/<token>/<choice>", method=["GET", "HEAD"])
    def show(token: str, choice: str) -> Response[str]:
        if choice not in CHOICES:
            return outcome_page(404, "This link is not valid", "Check that the whole link was opened.")
        link, head, body = services().pauses.link(token)
        approver = link.approver
        if head.status != "pending":
            return why_not(head)
        mine = next((a for a in head.approvals if a.by == approver), None)
        if link.usedAt or mine:
            return outcome_page(
                409,
                "You have decided already",
                f"Your decision is recorded{f' ({mine.decision})' if mine else ''}; others still have to decide.",
                head,
            )
        context_text, _ = pretty_context(body.context, limit=None)
        return html(
            200,
            "confirm.html.j2",
            title="Approve or reject",
            pause=pause_view(head, None),
            choice=CHOICES[choice],
            approver=approver,
            action_url=f"{get_settings().base_url}/a/{token}",
            context_text=context_text,
            metadata=body.metadata,
        )

    @app.post("/a/<token>")
    def decide(token: str) -> Response[str]:
        event = app.current_event
        if not web.same_origin(event.headers):
            return outcome_page(403, "Not allowed", "Decisions can only be sent from this site's own page.")
        form = web.form_of(event, MAX_FIELDS)
        if form is None:
            return outcome_page(400, "The form could not be read", "Nothing was recorded. Open the link again.")
        decision = DECISIONS.get(form.get("decision", ""))
        comment = (form.get("comment") or "").strip() or None
        if decision is None:
            return outcome_page(400, "Choose Approve or Reject", "The form did not say which decision to record.")
        if comment and len(comment) > MAX_COMMENT:
            return outcome_page(413, "The comment is too long", f"Keep it under {MAX_COMMENT} characters.")
        head = services().pauses.decide_by_link(token, decision, comment)
        if head.status == "pending":
            return outcome_page(200, "Approval recorded", "Thank you. Other approvers still have to decide.", head)
        return outcome_page(200, f"Recorded: {head.status}", "Thank you. The agent sees your decision now.", head)

    @handles(app, errors.NotFound)
    def _unknown(error: errors.NotFound) -> Response[str]:
        return outcome_page(404, "This link is not valid", "It may be mistyped, or not meant for you.")

    @handles(app, errors.NotAMember)
    def _not_a_member(error: errors.NotAMember) -> Response[str]:
        return outcome_page(
            403,
            "You are no longer a member of this team",
            "This link stopped working when you were removed from the team. Nothing was recorded.",
        )

    @handles(app, errors.Gone)
    def _gone(error: errors.Gone) -> Response[str]:
        head = PauseHead.model_validate({"tenantId": "", **error.details["pause"]}) if error.details else None
        if head is not None and head.status != "pending":
            return why_not(head)
        return outcome_page(409, "This link was used already", "Each link decides once.", head)

    @handles(app, errors.Conflict)
    def _conflict(error: errors.Conflict) -> Response[str]:
        pause = (error.details or {}).get("pause")
        if pause:
            return why_not(PauseHead.model_validate({"tenantId": "", **pause}))
        return outcome_page(409, "You have decided already", error.message)

    @handles(app, Exception)
    def _unexpected(error: Exception) -> Response[str]:
        logger.exception("page failed")
        return outcome_page(500, "Something went wrong", "Nothing was recorded. Try the link again in a minute.")

    @app.not_found
    def _no_page(_: Exception) -> Response[str]:
        return outcome_page(404, "No such page", "Check that the whole link was opened.")

    return app
