"""Tenants, their approvers and API keys, and the month's usage, in the single table."""

from __future__ import annotations

import random
import time
from typing import Any

from hitl import wiring
from hitl.adapters import keys
from hitl.adapters.pause_repository import retention_ttl
from hitl.adapters.table import Table, to_item, values
from hitl.domain.models import ApiKeyRecord, Approver, Role, Tenant
from hitl.domain.ports import Count, Invitation, TenantProfile, TenantSummary

#: a month's count reads at most this many 1 MB pages of the index (about 4 million pauses)
COUNT_PAGES = 1000
#: how long an invitation is kept after its expiry (its page says it expired, not "unknown")
INVITATION_KEEP_DAYS = 30


class DynamoTenants:
    def __init__(self, table: Table) -> None:
        self.table = table

    # --- tenants ------------------------------------------------------------------------------

    def get_tenant(self, tenant_id: str) -> Tenant | None:
        item = self.table.get(keys.tenant(tenant_id))
        return Tenant.model_validate(item) if item else None

    def profile(self, tenant_id: str) -> TenantProfile | None:
        """The tenant and its approvers in one Query: ``APPROVER#…`` sorts before ``TENANT`` under
        the tenant's partition (the few items between them — quota counters, the callback
        secret — are skipped)."""
        items = self.table.query_all(
            key_condition="pk = :pk AND sk BETWEEN :first AND :last",
            consistent=True,
            pk=keys.tenant_pk(tenant_id),
            first=keys.APPROVER_PREFIX,
            last=keys.TENANT,
        )
        tenant = next((i for i in items if i["sk"] == keys.TENANT), None)
        if tenant is None:
            return None
        approvers = tuple(Approver.model_validate(i) for i in items if str(i["sk"]).startswith(keys.APPROVER_PREFIX))
        return TenantProfile(Tenant.model_validate(tenant), approvers)

    def find_tenants(self, name: str) -> list[Tenant]:
        """Tenants by name (admin use only: a small, bounded lookup via the lookup index)."""
        page = self.table.query(index=wiring.LOOKUP.name, key_condition="lookupPk = :lpk", lpk=keys.tenant_name(name))
        return [Tenant.model_validate(i) for i in page.items]

    def create_tenant(self, tenant: Tenant) -> bool:
        """Write a new tenant, findable by name and listed; False if its id exists."""
        item = {
            **tenant.to_json(),
            "lookupPk": keys.tenant_name(tenant.name),
            "lookupSk": tenant.tenantId,
            **self._listed(tenant),
        }
        return self.table.put(keys.tenant(tenant.tenantId), item, "attribute_not_exists(pk)")

    @staticmethod
    def _listed(tenant: Tenant) -> dict[str, str]:
        return {
            wiring.BY_TENANT.pk: keys.TENANT_LIST,
            wiring.BY_TENANT.sk: keys.list_sort(tenant.createdAt, tenant.tenantId),
        }

    def mark_listed(self, tenant: Tenant) -> None:
        """Put a tenant written before the listing existed into it (idempotent; a missing tenant is
        not created)."""
        listed = self._listed(tenant)
        self.table.update(
            keys.tenant(tenant.tenantId),
            "SET gsi1pk = :gpk, gsi1sk = :gsk",
            condition="attribute_exists(pk)",
            gpk=listed[wiring.BY_TENANT.pk],
            gsk=listed[wiring.BY_TENANT.sk],
        )

    def list_tenants(self, *, limit: int) -> tuple[list[TenantSummary], bool]:
        """Up to ``limit`` tenants, oldest first, and whether there are more (one Query a page of
        the ``byTenant`` index, never a Scan)."""
        found: list[TenantSummary] = []
        start: dict[str, str] | None = None
        while True:
            page = self.table.query(
                index=wiring.BY_TENANT.name,
                key_condition="gsi1pk = :gpk",
                start_key=start,
                limit=min(limit - len(found), 100) + 1,
                gpk=keys.TENANT_LIST,
            )
            found += [TenantSummary(i["tenantId"], i["name"], i["createdAt"]) for i in page.items]
            start = page.last_key
            if len(found) > limit:
                return found[:limit], True
            if start is None:
                return found, False

    def list_keys(self, tenant_id: str) -> list[ApiKeyRecord]:
        """Every key of the tenant, newest first."""
        items = self.table.query_all(
            index=wiring.BY_TENANT.name, key_condition="gsi1pk = :gpk", forward=False, gpk=keys.keys_of(tenant_id)
        )
        return [ApiKeyRecord.model_validate(i) for i in items]

    def pauses_created(self, tenant_id: str, month: str, *, max_pages: int = COUNT_PAGES) -> Count:
        """How many pauses the tenant created in ``month`` (``yyyy-mm``): a ``Select=COUNT`` Query
        of the tenant's pause list, bounded by ``max_pages``.  For plans without a quota counter."""
        request: dict[str, Any] = {
            "TableName": self.table.name,
            "IndexName": wiring.BY_TENANT.name,
            "KeyConditionExpression": "gsi1pk = :gpk AND begins_with(gsi1sk, :month)",
            "ExpressionAttributeValues": values(gpk=keys.pauses_of(tenant_id), month=month),
            "Select": "COUNT",
        }
        total = 0
        for _ in range(max_pages):
            answer = self.table.client.query(**request)
            total += int(answer["Count"])
            last = answer.get("LastEvaluatedKey")
            if not last:
                return Count(total, complete=True)
            request["ExclusiveStartKey"] = last
        return Count(total, complete=False)

    def _set(self, tenant_id: str, attribute: str, value: Any) -> None:
        self.table.update(
            keys.tenant(tenant_id),
            "SET #attr = :value",
            condition="attribute_exists(pk)",
            names={"#attr": attribute},
            value=value,
        )

    def set_plan(self, tenant_id: str, plan: str) -> None:
        self._set(tenant_id, "plan", plan)

    def set_floor(self, tenant_id: str, floor: dict[str, Any]) -> None:
        self._set(tenant_id, "floor", floor)

    def rename(self, tenant_id: str, name: str) -> None:
        """The tenant's name, and its name in the lookup index (``hitl-admin`` finds it by it)."""
        self.table.update(
            keys.tenant(tenant_id),
            "SET #name = :name, lookupPk = :lpk",
            condition="attribute_exists(pk)",
            names={"#name": "name"},
            name=name,
            lpk=keys.tenant_name(name),
        )

    # --- members (owners and approvers) and invitations ---------------------------------------

    @staticmethod
    def _member_item(member: Approver) -> dict[str, Any]:
        """A member as stored: findable among the person's teams (lookup ``PERSON#<email>``)."""
        return {**member.to_json(), "lookupPk": keys.person(member.email), "lookupSk": member.tenantId}

    def put_member(self, member: Approver) -> None:
        self.table.put(keys.approver(member.tenantId, member.email), self._member_item(member))

    #: the older name (``hitl-admin`` and the local stack used it)
    put_approver = put_member

    def delete_approver(self, tenant_id: str, email: str) -> bool:
        return self.table.delete(keys.approver(tenant_id, email))

    def approvers(self, tenant_id: str) -> list[Approver]:
        """Every member of the tenant, confirmed and invited, by email."""
        items = self.table.items_of(keys.tenant_pk(tenant_id), keys.APPROVER_PREFIX)
        return [Approver.model_validate(i) for i in items]

    members = approvers

    def member(self, tenant_id: str, email: str) -> Approver | None:
        """One member, read consistently (a removal counts at once)."""
        item = self.table.get(keys.approver(tenant_id, email))
        return Approver.model_validate(item) if item else None

    def memberships(self, email: str) -> list[Approver]:
        """A person's teams, confirmed and invited: one Query of the lookup index (eventually
        consistent: check a membership that matters with ``member``)."""
        items = self.table.query_all(index=wiring.LOOKUP.name, key_condition="lookupPk = :lpk", lpk=keys.person(email))
        return [Approver.model_validate(i) for i in items]

    def upgrade_members(self, tenant_id: str) -> int:
        """Put the members stored before the lookup existed into it (idempotent); how many."""
        items = self.table.items_of(keys.tenant_pk(tenant_id), keys.APPROVER_PREFIX)
        stale = [i for i in items if "lookupPk" not in i]
        for item in stale:
            self.table.update(
                keys.Key(item["pk"], item["sk"]),
                "SET lookupPk = :lpk, lookupSk = :lsk",
                condition="attribute_exists(pk)",
                lpk=keys.person(str(item["email"])),
                lsk=tenant_id,
            )
        return len(stale)

    def touch_member(self, tenant_id: str, email: str, now: str, older_than: str | None = None) -> None:
        """Record that the member used the dashboard (``lastActiveAt``); with ``older_than``, only
        if the last record is older.  A member removed meanwhile is not re-created."""
        condition = "attribute_exists(pk)"
        if older_than is not None:
            condition += " AND (attribute_not_exists(lastActiveAt) OR lastActiveAt < :old)"
            self.table.update(
                keys.approver(tenant_id, email), "SET lastActiveAt = :now", condition=condition, now=now, old=older_than
            )
        else:
            self.table.update(keys.approver(tenant_id, email), "SET lastActiveAt = :now", condition=condition, now=now)

    def set_slack_user(self, tenant_id: str, email: str, slack_user_id: str | None) -> bool:
        """Link the member to a Slack user, or unlink them (``None``: their email is turned back on,
        so that nobody is left unreachable).  False when there is no such member."""
        key = keys.approver(tenant_id, email)
        if slack_user_id is None:
            written = self.table.update(
                key, "REMOVE slackUserId SET emailNotifications = :on", condition="attribute_exists(pk)", on=True
            )
        else:
            written = self.table.update(
                key, "SET slackUserId = :user", condition="attribute_exists(pk)", user=slack_user_id
            )
        return written is not None

    def set_email_notifications(self, tenant_id: str, email: str, on: bool) -> bool:
        """Turn the member's emails on, or off (only while they are linked to Slack); False when
        there is no such member, or turning off a member not linked."""
        condition = "attribute_exists(pk)" if on else "attribute_exists(pk) AND attribute_exists(slackUserId)"
        written = self.table.update(
            keys.approver(tenant_id, email), "SET emailNotifications = :on", condition=condition, on=on
        )
        return written is not None

    def put_invitation(
        self, token_hash: str, invitation: Invitation, member: Approver, *, replaces: str | None
    ) -> None:
        """The invitation and its member (status invited, holding the invitation's hash) in one
        transaction.  ``replaces``: the hash of the invitation a re-send replaces (the member must
        still hold it); else the member must be new, or an invited one (not a confirmed member).
        Refuses with ``TransactionRefused(["member"])``."""
        if replaces is None:
            member_op = self.table.put_op(
                keys.approver(member.tenantId, member.email),
                self._member_item(member),
                "attribute_not_exists(pk)",
            )
        else:
            member_op = self.table.put_op(
                keys.approver(member.tenantId, member.email),
                self._member_item(member),
                "#st = :invited AND invitationHash = :old",
                invited="invited",
                old=replaces,
            )
            member_op["Put"]["ExpressionAttributeNames"] = {"#st": "status"}
        item = {**invitation.to_json(), wiring.TTL_ATTRIBUTE: retention_ttl(invitation.expiresAt, INVITATION_KEEP_DAYS)}
        self.table.transact(
            [
                ("invitation", self.table.put_op(keys.invitation(token_hash), item, "attribute_not_exists(pk)")),
                ("member", member_op),
            ]
        )

    def get_invitation(self, token_hash: str) -> Invitation | None:
        item = self.table.get(keys.invitation(token_hash))
        return Invitation.from_item(item) if item else None

    def accept_invitation(self, token_hash: str, member: Approver, now: str) -> None:
        """Use the invitation up and confirm its member, in one transaction: only while unused,
        unrevoked and unexpired (``invitation``), and still the member's current one (``member``)."""
        self.table.transact(
            [
                (
                    "invitation",
                    self.table.update_op(
                        keys.invitation(token_hash),
                        "SET usedAt = :now",
                        condition=(
                            "attribute_exists(pk) AND attribute_not_exists(usedAt) "
                            "AND attribute_not_exists(revokedAt) AND expiresAt > :now"
                        ),
                        now=now,
                    ),
                ),
                (
                    "member",
                    self.table.update_op(
                        keys.approver(member.tenantId, member.email),
                        "SET #st = :confirmed, joinedAt = :now REMOVE invitationHash, invitationExpiresAt",
                        condition="#st = :invited AND invitationHash = :hash",
                        names={"#st": "status"},
                        confirmed="confirmed",
                        invited="invited",
                        now=now,
                        hash=token_hash,
                    ),
                ),
            ]
        )

    def revoke_invitation(self, token_hash: str, member: Approver, now: str) -> None:
        """Withdraw a pending invitation: its member goes, the invitation is marked revoked."""
        self.table.transact(
            [
                (
                    "member",
                    self._delete_op(
                        keys.approver(member.tenantId, member.email),
                        "#st = :invited AND invitationHash = :hash",
                        names={"#st": "status"},
                        invited="invited",
                        hash=token_hash,
                    ),
                ),
                (
                    "invitation",
                    self.table.update_op(
                        keys.invitation(token_hash),
                        "SET revokedAt = :now",
                        condition="attribute_exists(pk) AND attribute_not_exists(usedAt)",
                        now=now,
                    ),
                ),
            ]
        )

    def set_role(self, tenant_id: str, email: str, role: Role, *, keep_owner: str | None) -> None:
        """Change a member's role; ``keep_owner``: another member who must still be a confirmed
        owner as it happens (two owners demoting each other cannot leave none)."""
        ops = [
            (
                "member",
                self.table.update_op(
                    keys.approver(tenant_id, email),
                    "SET #role = :role",
                    condition="attribute_exists(pk)",
                    names={"#role": "role"},
                    role=role,
                ),
            )
        ]
        self.table.transact(ops + self._owner_check(tenant_id, keep_owner))

    def remove_member(self, tenant_id: str, email: str, *, keep_owner: str | None) -> None:
        """Remove a member (confirmed or invited); ``keep_owner`` as for ``set_role``."""
        ops = [("member", self._delete_op(keys.approver(tenant_id, email), "attribute_exists(pk)"))]
        self.table.transact(ops + self._owner_check(tenant_id, keep_owner))

    def _owner_check(self, tenant_id: str, owner: str | None) -> list[tuple[str, dict[str, Any]]]:
        if owner is None:
            return []
        check = {
            "TableName": self.table.name,
            "Key": to_item(keys.approver(tenant_id, owner).as_dict()),
            "ConditionExpression": "#role = :owner AND #st = :confirmed",
            "ExpressionAttributeNames": {"#role": "role", "#st": "status"},
            "ExpressionAttributeValues": values(owner="owner", confirmed="confirmed"),
        }
        return [("owner", {"ConditionCheck": check})]

    def _delete_op(
        self, key: keys.Key, condition: str, names: dict[str, str] | None = None, **cond: Any
    ) -> dict[str, Any]:
        delete: dict[str, Any] = {
            "TableName": self.table.name,
            "Key": to_item(key.as_dict()),
            "ConditionExpression": condition,
        }
        if names:
            delete["ExpressionAttributeNames"] = names
        if cond:
            delete["ExpressionAttributeValues"] = values(**cond)
        return {"Delete": delete}

    # --- usage ------------------------------------------------------------------------------------

    def quota_used(self, tenant_id: str, month: str) -> int:
        item = self.table.get(keys.quota(tenant_id, month))
        return int(item["used"]) if item else 0

    # --- API keys ---------------------------------------------------------------------------------

    def put_api_key(self, key_hash: str, record: ApiKeyRecord) -> None:
        item = record.to_json()
        item.update(
            lookupPk=keys.key_id(record.keyId),
            lookupSk="KEY",
            gsi1pk=keys.keys_of(record.tenantId),
            gsi1sk=keys.list_sort(record.createdAt, record.keyId),
        )
        self.table.put(keys.api_key(key_hash), item)

    def get_api_key(self, key_hash: str) -> ApiKeyRecord | None:
        item = self.table.get(keys.api_key(key_hash), consistent=False)
        return ApiKeyRecord.model_validate(item) if item else None

    def revoke_key(self, key_id: str, *, tenant_id: str | None = None) -> tuple[ApiKeyRecord, bool] | None:
        """Mark the key revoked: the key as it is now and whether this call revoked it; None when
        there is no such key (or, with ``tenant_id``, it is another tenant's)."""
        page = self.table.query(index=wiring.LOOKUP.name, key_condition="lookupPk = :lpk", lpk=keys.key_id(key_id))
        if not page.items or (tenant_id is not None and page.items[0].get("tenantId") != tenant_id):
            return None
        found = page.items[0]
        before = self.table.update(
            keys.Key(found["pk"], found["sk"]),
            "SET revoked = :yes",
            condition="attribute_exists(pk)",
            returns="ALL_OLD",
            yes=True,
        )
        if before is None:
            return None
        return ApiKeyRecord.model_validate({**before, "revoked": True}), not before.get("revoked", False)

    def touch_key(self, key_hash: str, now: str, older_than: str) -> None:
        """Record use at most once per period: only if the last use is older than ``older_than``."""
        self.table.update(
            keys.api_key(key_hash),
            "SET lastUsedAt = :now",
            condition="attribute_exists(pk) AND (attribute_not_exists(lastUsedAt) OR lastUsedAt < :old)",
            now=now,
            old=older_than,
        )


class DynamoWaits:
    """A tenant's concurrent long-polls: one item of leases, version-checked."""

    def __init__(self, table: Table) -> None:
        self.table = table

    def acquire(self, tenant_id: str, lease_id: str, cap: int, until_epoch: int, now_epoch: int) -> bool:
        """Take one of the tenant's ``cap`` wait slots until ``until_epoch``.  Leases that
        outlived their time (a function that died mid-wait) are dropped on the way."""
        key = keys.waits(tenant_id)
        for _ in range(20):
            current = self.table.get(key) or {}
            live = {k: v for k, v in current.get("leases", {}).items() if int(v) > now_epoch}
            if len(live) >= cap:
                return False
            live[lease_id] = until_epoch
            version = int(current.get("version", 0))
            written = self.table.update(
                key,
                "SET leases = :leases, version = :next",
                condition="attribute_not_exists(version) OR version = :version",
                leases=live,
                next=version + 1,
                version=version,
            )
            if written is not None:
                return True
            time.sleep(random.uniform(0, 0.02))
        return False

    def release(self, tenant_id: str, lease_id: str) -> None:
        self.table.update(
            keys.waits(tenant_id),
            "REMOVE leases.#lease SET version = version + :one",
            condition="attribute_exists(leases)",
            names={"#lease": lease_id},
            one=1,
        )
