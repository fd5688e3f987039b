"""Slack in the single table: each tenant's connected workspace, the claim of its Slack team, the
DMs sent about each pause, and OAuth install states.  (Key formats: ``hitl.adapters.keys``.)

* ``T#<tenant>`` / ``SLACK``: the workspace (``SlackWorkspace``; the bot token only as its KMS
  ciphertext).
* ``SLACKTEAM#<teamId>`` / ``SLACKTEAM``: the tenant the team is connected to.  Written in the
  same transaction as the workspace, on condition that no other tenant holds it: one team, one
  tenant.
* ``P#<watchId>`` / ``SLACK#<email>#<ts>``: one DM about the pause (its request, a reminder).
* ``SLACKSTATE#<sha256 of state>`` / ``SLACKSTATE``: an OAuth install under way (TTL).
"""

from __future__ import annotations

from typing import Any

from hitl import timeutil, wiring
from hitl.adapters import keys
from hitl.adapters.table import Table
from hitl.domain.models import SlackWorkspace
from hitl.domain.ports import SlackInstallState, SlackMessage, SlackTeamTaken, TransactionRefused

#: a DM is kept for as long as its pause can be pending (30 days, ``requests.MAX_TIMEOUT_S``), and
#: a week more: nothing updates it after that
MESSAGE_KEEP_S = 37 * 86400
#: a connect or disconnect that raced another of the same tenant's is tried again this often
ATTEMPTS = 5


class DynamoSlack:
    def __init__(self, table: Table) -> None:
        self.table = table

    # --- workspaces ---------------------------------------------------------------------------

    def get(self, tenant_id: str) -> SlackWorkspace | None:
        item = self.table.get(keys.slack_workspace(tenant_id))
        return SlackWorkspace.model_validate(item) if item else None

    def by_team(self, team_id: str) -> SlackWorkspace | None:
        """The workspace of the tenant the Slack team is connected to (two GetItems)."""
        claim = self.table.get(keys.slack_team(team_id))
        if claim is None:
            return None
        workspace = self.get(str(claim["tenantId"]))
        return workspace if workspace is not None and workspace.teamId == team_id else None

    def connect(self, workspace: SlackWorkspace) -> None:
        """The workspace and its team's claim in one transaction: the claim only if no other tenant
        holds the team (``SlackTeamTaken``), the workspace only if it is still what was read (a
        replaced team's claim is released in the same transaction)."""
        for _ in range(ATTEMPTS):
            current = self.get(workspace.tenantId)
            ops = [
                ("workspace", self._workspace_put(workspace, current)),
                (
                    "team",
                    self.table.put_op(
                        keys.slack_team(workspace.teamId),
                        {"tenantId": workspace.tenantId, "teamId": workspace.teamId},
                        "attribute_not_exists(pk) OR tenantId = :tenant",
                        tenant=workspace.tenantId,
                    ),
                ),
            ]
            if current is not None and current.teamId != workspace.teamId:
                ops.append(("oldTeam", self._claim_delete(current)))
            try:
                self.table.transact(ops)
                return
            except TransactionRefused as refused:
                if "team" in refused.reasons:
                    raise SlackTeamTaken(workspace.teamId) from refused
                if "workspace" not in refused.reasons:
                    raise
        raise RuntimeError("the workspace kept changing while it was connected")

    def _workspace_put(self, workspace: SlackWorkspace, current: SlackWorkspace | None) -> dict[str, Any]:
        key = keys.slack_workspace(workspace.tenantId)
        if current is None:
            return self.table.put_op(key, workspace.to_json(), "attribute_not_exists(pk)")
        return self.table.put_op(
            key,
            workspace.to_json(),
            "teamId = :team AND connectedAt = :at",
            team=current.teamId,
            at=current.connectedAt,
        )

    def _claim_delete(self, workspace: SlackWorkspace) -> dict[str, Any]:
        return self.table.delete_op(keys.slack_team(workspace.teamId), "tenantId = :tenant", tenant=workspace.tenantId)

    def disconnect(self, tenant_id: str) -> SlackWorkspace | None:
        """Delete the workspace (and so its token) and release its team, in one transaction."""
        for _ in range(ATTEMPTS):
            current = self.get(tenant_id)
            if current is None:
                return None
            ops = [
                (
                    "workspace",
                    self.table.delete_op(
                        keys.slack_workspace(tenant_id),
                        "teamId = :team AND connectedAt = :at",
                        team=current.teamId,
                        at=current.connectedAt,
                    ),
                ),
                ("team", self._claim_delete(current)),
            ]
            try:
                self.table.transact(ops)
                return current
            except TransactionRefused as refused:
                if "workspace" not in refused.reasons:
                    raise
        raise RuntimeError("the workspace kept changing while it was disconnected")

    # --- messages -----------------------------------------------------------------------------

    def record_message(self, message: SlackMessage) -> None:
        item = {**message.to_json(), wiring.TTL_ATTRIBUTE: timeutil.epoch(timeutil.now()) + MESSAGE_KEEP_S}
        self.table.put(keys.slack_message(message.watchId, message.approverEmail, message.ts), item)

    def messages(self, tenant_id: str, watch_id: str) -> list[SlackMessage]:
        """Every DM sent about the pause, by approver and time."""
        items = self.table.items_of(keys.pause_pk(watch_id), keys.SLACK_MESSAGE_PREFIX)
        return [SlackMessage.from_item(i) for i in items if i.get("tenantId") == tenant_id]

    # --- OAuth install states -----------------------------------------------------------------

    def put_install_state(self, state_hash: str, state: SlackInstallState) -> None:
        item = {**state.to_json(), wiring.TTL_ATTRIBUTE: timeutil.epoch(timeutil.parse(state.expiresAt))}
        if not self.table.put(keys.slack_install_state(state_hash), item, "attribute_not_exists(pk)"):
            raise RuntimeError("an install state collided with an existing one")

    def take_install_state(self, state_hash: str) -> SlackInstallState | None:
        item = self.table.take(keys.slack_install_state(state_hash))
        return SlackInstallState.from_item(item) if item else None
