"""The single DynamoDB table, as one repository per aggregate over a shared base.

The item layout is documented in ``hitl.adapters.keys`` (every key format lives there), the
shared plumbing in ``hitl.adapters.table``.  A warm function builds one ``DynamoStore``.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

from hitl.adapters.pause_repository import DynamoPauses
from hitl.adapters.table import Table
from hitl.adapters.tenant_repository import DynamoTenants, DynamoWaits
from hitl.adapters.token_repository import DynamoTokens

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

    from hitl.adapters.slack_repository import DynamoSlack
    from hitl.adapters.webhook_store import WebhookStore


class DynamoStore:
    """The repositories of one table: ``pauses``, ``tenants``, ``tokens``, ``waits``, ``webhooks``,
    ``slack``."""

    def __init__(self, client: DynamoDBClient, table_name: str) -> None:
        self.table = Table(client, table_name)
        self.pauses = DynamoPauses(self.table)
        self.tenants = DynamoTenants(self.table)
        self.tokens = DynamoTokens(self.table)
        self.waits = DynamoWaits(self.table)

    @cached_property
    def webhooks(self) -> WebhookStore:
        """Built on first use: only the functions that serve webhooks import their models."""
        from hitl.adapters.webhook_store import WebhookStore

        return WebhookStore(self.table, self.pauses)

    @cached_property
    def slack(self) -> DynamoSlack:
        """Slack workspaces, team claims, DMs and install states (built on first use)."""
        from hitl.adapters.slack_repository import DynamoSlack

        return DynamoSlack(self.table)
