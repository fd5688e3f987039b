"""Operator reads over the tenants: every tenant, a tenant's keys, a month's pauses (admin use only).

Kept apart from ``dynamo.py`` while that module is split into repositories; it belongs in the
tenants repository.  Item layout it adds to (see ``dynamo.py``):

* ``T#<tenant>`` / ``TENANT`` also carries ``gsi1pk = TENANTS``, ``gsi1sk = <createdAt>#<tenantId>``,
  so every tenant is listed by one Query of the ``byTenant`` index (never a Scan).  A tenant
  written before this attribute existed gets it on its next change (``TenantListing.mark_listed``).
* API keys are already in ``byTenant`` under ``TK#<tenant>``; pause heads under ``TP#<tenant>``
  with ``gsi1sk = <createdAt>#<watchId>``, so a month's pauses share a sort-key prefix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hitl import wiring
from hitl.adapters.dynamo import DynamoStore, to_item, values
from hitl.domain.models import ApiKeyRecord, Tenant

TENANTS_PK = "TENANTS"
#: What a key listing may show: never the key, never its hash (the item's pk is ``KEY#<sha256>``).
KEY_FIELDS = ("keyId", "name", "last4", "createdAt", "lastUsedAt", "revoked")
#: A month's count reads at most this many 1 MB pages of the index (about 4 million pauses).
COUNT_PAGES = 1000


@dataclass(frozen=True)
class TenantSummary:
    tenantId: str
    name: str
    createdAt: str


@dataclass(frozen=True)
class Count:
    value: int
    complete: bool  # False: the bound was reached, ``value`` is a lower bound


def listed_sort_key(tenant: Tenant) -> str:
    return f"{tenant.createdAt}#{tenant.tenantId}"


@dataclass(frozen=True)
class TenantListing:
    """The operator's reads over one ``DynamoStore`` (its public client, table and ``query``)."""

    store: DynamoStore

    def mark_listed(self, tenant: Tenant) -> None:
        """Put the tenant item in the tenant listing (idempotent; a missing tenant is not created)."""
        self.store.client.update_item(
            TableName=self.store.table,
            Key=to_item({"pk": f"T#{tenant.tenantId}", "sk": "TENANT"}),
            UpdateExpression="SET gsi1pk = :gpk, gsi1sk = :gsk",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues=values(gpk=TENANTS_PK, gsk=listed_sort_key(tenant)),
        )

    def tenants(self, *, limit: int) -> tuple[list[TenantSummary], bool]:
        """Up to ``limit`` tenants, oldest first, and whether there are more."""
        found: list[TenantSummary] = []
        start: dict[str, str] | None = None
        while True:
            page = self.store.query(
                index=wiring.BY_TENANT.name,
                key_condition="gsi1pk = :gpk",
                start_key=start,
                limit=min(limit - len(found), 100),
                gpk=TENANTS_PK,
            )
            found += [TenantSummary(i["tenantId"], i["name"], i["createdAt"]) for i in page.items]
            start = page.last_key
            if start is None:
                return found, False
            if len(found) >= limit:
                return found, self._any_after(start)

    def _any_after(self, start: dict[str, str]) -> bool:
        page = self.store.query(
            index=wiring.BY_TENANT.name, key_condition="gsi1pk = :gpk", start_key=start, limit=1, gpk=TENANTS_PK
        )
        return bool(page.items)

    def keys(self, tenant_id: str) -> list[dict[str, Any]]:
        """Every key of the tenant, newest first, as ``KEY_FIELDS`` only."""
        found: list[dict[str, Any]] = []
        start: dict[str, str] | None = None
        while True:
            page = self.store.query(
                index=wiring.BY_TENANT.name,
                key_condition="gsi1pk = :gpk",
                start_key=start,
                forward=False,
                gpk=f"TK#{tenant_id}",
            )
            for item in page.items:
                shown = ApiKeyRecord.model_validate(item).to_json()
                found.append({field: shown[field] for field in KEY_FIELDS})
            start = page.last_key
            if start is None:
                return found

    def pauses_created(self, tenant_id: str, month: str, *, max_pages: int = COUNT_PAGES) -> Count:
        """How many pauses the tenant created in ``month`` (``yyyy-mm``): a ``Select=COUNT`` Query
        of the tenant's pause list, bounded by ``max_pages``.  For plans without a quota counter."""
        request: dict[str, Any] = {
            "TableName": self.store.table,
            "IndexName": wiring.BY_TENANT.name,
            "KeyConditionExpression": "gsi1pk = :gpk AND begins_with(gsi1sk, :month)",
            "ExpressionAttributeValues": values(gpk=f"TP#{tenant_id}", month=month),
            "Select": "COUNT",
        }
        total = 0
        for _ in range(max_pages):
            answer = self.store.client.query(**request)
            total += int(answer["Count"])
            last = answer.get("LastEvaluatedKey")
            if not last:
                return Count(total, complete=True)
            request["ExclusiveStartKey"] = last
        return Count(total, complete=False)
