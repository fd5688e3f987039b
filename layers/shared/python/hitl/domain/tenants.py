"""Operator use cases: tenants, their approvers and API keys (``hitl-admin``, the local stack)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hitl import ids, timeutil
from hitl.domain import rules
from hitl.domain.errors import Conflict, NotFound, Unprocessable
from hitl.domain.models import ApiKeyRecord, Approver, PlanName, Tenant

if TYPE_CHECKING:  # the adapter is injected; the domain only names its type
    from hitl.adapters.tenant_repository import DynamoTenants


@dataclass
class TenantAdmin:
    store: DynamoTenants

    def tenant(self, tenant_ref: str) -> Tenant:
        """A tenant by id, or by name when exactly one has it."""
        found = self.store.get_tenant(tenant_ref)
        if found:
            return found
        named = self.store.find_tenants(tenant_ref)
        if len(named) == 1:
            return named[0]
        if named:
            raise Conflict(f"{len(named)} tenants are named {tenant_ref}; use the tenant id.")
        raise NotFound(f"No tenant {tenant_ref}.")

    def create_tenant(
        self, name: str, plan: PlanName, approvers: list[str], tenant_id: str | None = None
    ) -> dict[str, Any]:
        if self.store.find_tenants(name):
            raise Conflict(f"A tenant named {name} exists already.", code="tenant_exists")
        tenant = Tenant(
            tenantId=tenant_id or ids.new_tenant_id(), name=name, plan=plan, createdAt=timeutil.iso(timeutil.now())
        )
        self._check_approver_room(tenant, len(approvers))
        self.store.create_tenant(tenant)
        for email in approvers:
            self.add_approver(tenant.tenantId, email)
        key = self.create_key(tenant.tenantId, "default")
        return {**tenant.to_json(), "approvers": approvers, **key}

    def create_key(self, tenant_ref: str, name: str = "default", key: str | None = None) -> dict[str, Any]:
        """A new API key; the full key is in the answer once and never stored."""
        tenant = self.tenant(tenant_ref)
        secret = key or ids.new_api_key()
        if not ids.is_well_formed_key(secret):
            raise Unprocessable("Not a well-formed API key.")
        record = ApiKeyRecord(
            keyId=ids.new_key_id(),
            tenantId=tenant.tenantId,
            name=name,
            last4=secret[-4:],
            createdAt=timeutil.iso(timeutil.now()),
        )
        self.store.put_api_key(ids.sha256_hex(secret), record)
        return {"tenantId": tenant.tenantId, "keyId": record.keyId, "name": name, "apiKey": secret}

    def revoke_key(self, key_id: str) -> dict[str, Any]:
        record = self.store.revoke_key(key_id)
        if record is None:
            raise NotFound(f"No key {key_id}.")
        return record.to_json()

    def add_approver(self, tenant_ref: str, email: str) -> dict[str, Any]:
        tenant = self.tenant(tenant_ref)
        email = _normal_email(email)
        known = {a.email for a in self.store.approvers(tenant.tenantId)}
        if email not in known:
            self._check_approver_room(tenant, len(known) + 1)
        approver = Approver(
            tenantId=tenant.tenantId, email=email, status="confirmed", createdAt=timeutil.iso(timeutil.now())
        )
        self.store.put_approver(approver)
        return approver.to_json()

    def remove_approver(self, tenant_ref: str, email: str) -> dict[str, Any]:
        tenant = self.tenant(tenant_ref)
        if not self.store.delete_approver(tenant.tenantId, _normal_email(email)):
            raise NotFound(f"{email} is not an approver of {tenant.name}.")
        return {"tenantId": tenant.tenantId, "removed": _normal_email(email)}

    def set_plan(self, tenant_ref: str, plan: PlanName) -> dict[str, Any]:
        tenant = self.tenant(tenant_ref)
        self._check_approver_room(tenant.model_copy(update={"plan": plan}), len(self.store.approvers(tenant.tenantId)))
        self.store.set_plan(tenant.tenantId, plan)
        return {**tenant.to_json(), "plan": plan}

    def set_policy(
        self,
        tenant_ref: str,
        *,
        allow_auto_approve: bool | None = None,
        min_required_approvals: int | None = None,
        min_auto_approve_timeout_seconds: int | None = None,
    ) -> dict[str, Any]:
        """Change the tenant's policy floor; what is not given stays as it is.  Warm functions
        see it within a minute (they cache a key's tenant for at most 60 s)."""
        tenant = self.tenant(tenant_ref)
        changes: dict[str, Any] = {}
        if allow_auto_approve is not None:
            changes["allowAutoApprove"] = allow_auto_approve
        if min_required_approvals is not None:
            if min_required_approvals < 1:
                raise Unprocessable("The minimum of required approvals is at least 1.")
            changes["minRequiredApprovals"] = min_required_approvals
        if min_auto_approve_timeout_seconds is not None:
            if min_auto_approve_timeout_seconds < 0:
                raise Unprocessable("The minimum timeout for auto-approval cannot be negative.")
            changes["minAutoApproveTimeoutSeconds"] = min_auto_approve_timeout_seconds
        floor = tenant.floor.model_copy(update=changes)
        self.store.set_floor(tenant.tenantId, floor.to_json())
        return {"tenantId": tenant.tenantId, "name": tenant.name, "floor": floor.to_json()}

    def describe(self, tenant_ref: str) -> dict[str, Any]:
        tenant = self.tenant(tenant_ref)
        month = timeutil.month_key(timeutil.now())
        return {
            **tenant.to_json(),
            "approvers": [a.to_json() for a in self.store.approvers(tenant.tenantId)],
            "usage": {"month": month, "pauses": self.store.quota_used(tenant.tenantId, month)},
        }

    @staticmethod
    def _check_approver_room(tenant: Tenant, count: int) -> None:
        allowed = rules.PLANS[tenant.plan].approvers
        if allowed is not None and count > allowed:
            raise Unprocessable(
                f"The {tenant.plan} plan allows {allowed} approver{'s' if allowed != 1 else ''}.",
                code="plan_limit",
            )


def _normal_email(email: str) -> str:
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email):
        raise Unprocessable(f"{email!r} is not an email address.", code="invalid_email")
    return email
