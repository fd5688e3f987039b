"""The types of a team's audit events (beside the ``pause.*`` events of each pause).

Every plan records them; only Pro shows them (DESIGN.md "Audit by plan").  Each is recorded
through ``hitl.domain.ports.TeamAudit`` with the actor (an email, ``admin`` or ``system``), the
channel (``dashboard``, ``email``, ``admin``, ``api``) and the client's IP where known.
"""

from __future__ import annotations

SIGNED_IN = "team.signed_in"
SIGNED_OUT_EVERYWHERE = "team.signed_out_everywhere"
MEMBER_INVITED = "team.member_invited"
INVITATION_RESENT = "team.invitation_resent"
INVITATION_REVOKED = "team.invitation_revoked"
MEMBER_JOINED = "team.member_joined"
MEMBER_ADDED = "team.member_added"
ROLE_CHANGED = "team.role_changed"
MEMBER_REMOVED = "team.member_removed"
KEY_CREATED = "team.key_created"
KEY_REVOKED = "team.key_revoked"
WEBHOOK_CREATED = "team.webhook_created"
WEBHOOK_CHANGED = "team.webhook_changed"
WEBHOOK_DELETED = "team.webhook_deleted"
CALLBACK_SECRET_ROTATED = "team.callback_secret_rotated"  # noqa: S105 (an event type)
POLICY_CHANGED = "team.policy_changed"
TEAM_RENAMED = "team.renamed"
PLAN_CHANGED = "team.plan_changed"
TEAM_CREATED = "team.created"
#: Slack (Pro): a workspace connected (OAuth install or a pasted bot token) or disconnected; a
#: member linked to a Slack user (matched by email, or by themselves) or unlinked
SLACK_CONNECTED = "team.slack_connected"
SLACK_DISCONNECTED = "team.slack_disconnected"
SLACK_LINKED = "team.slack_linked"
SLACK_UNLINKED = "team.slack_unlinked"

TEAM_EVENTS: tuple[str, ...] = (
    TEAM_CREATED,
    SIGNED_IN,
    SIGNED_OUT_EVERYWHERE,
    MEMBER_INVITED,
    INVITATION_RESENT,
    INVITATION_REVOKED,
    MEMBER_JOINED,
    MEMBER_ADDED,
    ROLE_CHANGED,
    MEMBER_REMOVED,
    KEY_CREATED,
    KEY_REVOKED,
    WEBHOOK_CREATED,
    WEBHOOK_CHANGED,
    WEBHOOK_DELETED,
    CALLBACK_SECRET_ROTATED,
    POLICY_CHANGED,
    TEAM_RENAMED,
    PLAN_CHANGED,
    SLACK_CONNECTED,
    SLACK_DISCONNECTED,
    SLACK_LINKED,
    SLACK_UNLINKED,
)


def is_team_event(type_: str) -> bool:
    return type_.startswith("team.")
