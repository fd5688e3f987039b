"""Operator use cases: tenants, their members and API keys (``hitl-admin``, the local stack)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from hitl import ids, timeutil
from hitl.domain import rules, team_events
from hitl.domain.errors import Conflict, NotFound, Unprocessable
from hitl.domain.models import ApiKeyRecord, Approver, Channel, PlanName, Role, Tenant
from hitl.domain.ports import InvitationMailer, TeamAudit
from hitl.domain.requests import MAX_TIMEOUT_S
from hitl.domain.teams import ADMIN, Teams, normal_email, seats_taken

if TYPE_CHECKING:  # the adapter is injected; the domain only names its type
    from hitl.adapters.tenant_repository import DynamoTenants

#: ``list-tenants`` shows at most this many tenants unless asked for more.
LIST_LIMIT = 1000
#: a team's name, as sign-up takes it (``hitl.domain.signin.MAX_TEAM_NAME``)
MAX_TEAM_NAME = 80
#: a key's name (what it is for)
MAX_KEY_NAME = 80


@dataclass
class TenantAdmin:
    """``audit`` records the team's events (members added, invited, removed; keys created and
    revoked; the policy floor, the plan and the name changed), each once, here: callers (the
    operator's ``hitl-admin``, an owner on the dashboard) say who they are with ``actor``,
    ``channel`` and ``ip``;
    ``invitations`` and ``base_url`` send the invitations of ``create_tenant(invite_owners=True)``."""

    store: DynamoTenants
    audit: TeamAudit
    invitations: InvitationMailer | None = None
    base_url: str = ""

    @property
    def teams(self) -> Teams:
        return Teams(self.store, self.audit, base_url=self.base_url, mailer=self.invitations)

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
        self,
        name: str,
        plan: PlanName,
        approvers: list[str],
        tenant_id: str | None = None,
        *,
        owners: list[str] | None = None,
        invite_owners: bool = False,
    ) -> dict[str, Any]:
        """A tenant, its members and a first key.  ``owners`` become owners (with
        ``invite_owners``: each is emailed an invitation instead, and joins on accepting it);
        without them, the first of ``approvers`` is the owner.  The other approvers are added
        confirmed."""
        if self.store.find_tenants(name):
            raise Conflict(f"A tenant named {name} exists already.", code="tenant_exists")
        owner_emails = list(dict.fromkeys(normal_email(e) for e in owners or []))
        approver_emails = [e for e in dict.fromkeys(normal_email(a) for a in approvers) if e not in owner_emails]
        if invite_owners and not owner_emails:
            raise Unprocessable("Name the owner to invite (--owner EMAIL).", code="no_owner")
        if invite_owners and self.invitations is None:
            raise Unprocessable("Invitations cannot be emailed from here (no mailer).", code="no_mailer")
        tenant = Tenant(
            tenantId=tenant_id or ids.new_tenant_id(), name=name, plan=plan, createdAt=timeutil.iso(timeutil.now())
        )
        self._check_approver_room(tenant, len(owner_emails) + len(approver_emails))
        self.store.create_tenant(tenant)
        self.audit.record_team_event(tenant.tenantId, team_events.TEAM_CREATED, actor=ADMIN, channel="admin")
        teams = self.teams
        invited: list[dict[str, Any]] = []
        for email in owner_emails:
            if invite_owners:
                invitation, _ = teams.invite(tenant.tenantId, email, "owner", actor=ADMIN, channel="admin")
                invited.append({"email": email, "role": "owner", "expiresAt": invitation.expiresAt})
            else:
                teams.add_member(tenant.tenantId, email, "owner")
        for n, email in enumerate(approver_emails):
            teams.add_member(tenant.tenantId, email, "owner" if n == 0 and not owner_emails else "approver")
        key = self.create_key(tenant.tenantId, "default")
        members = self.store.approvers(tenant.tenantId)
        answer = {
            **tenant.to_json(),
            "approvers": [m.email for m in members if m.status == "confirmed"],
            "members": [_member_view(m) for m in teams.members(tenant.tenantId)],
            "keyId": key["keyId"],
            "keyName": key["name"],
            "apiKey": key["apiKey"],
        }
        if invited:
            answer["invited"] = invited
        return answer

    def create_key(
        self,
        tenant_ref: str,
        name: str = "default",
        key: str | None = None,
        *,
        actor: str = ADMIN,
        channel: Channel = "admin",
        ip: str | None = None,
    ) -> dict[str, Any]:
        """A new API key; the full key is in the answer once and never stored (nor recorded: the
        audit entry names the key's id and name)."""
        tenant = self.tenant(tenant_ref)
        name = " ".join(name.split())
        if not name or len(name) > MAX_KEY_NAME:
            raise Unprocessable(f"Give the key a name of 1 to {MAX_KEY_NAME} characters.", code="invalid_key_name")
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
        self.audit.record_team_event(
            tenant.tenantId,
            team_events.KEY_CREATED,
            actor=actor,
            channel=channel,
            ip=ip,
            details={"keyId": record.keyId, "name": name},
        )
        return {"tenantId": tenant.tenantId, "keyId": record.keyId, "name": name, "apiKey": secret}

    def revoke_key(
        self,
        key_id: str,
        *,
        tenant_id: str | None = None,
        actor: str = ADMIN,
        channel: Channel = "admin",
        ip: str | None = None,
    ) -> dict[str, Any]:
        """Revoke a key at once: the next request with it is refused (a warm function re-reads
        the key on every request unless ``HITL_KEY_CACHE_SECONDS`` says otherwise).  With
        ``tenant_id``, another tenant's key is as missing as an unknown one.  Revoking a revoked
        key changes nothing and records nothing."""
        record = self.store.revoke_key(key_id, tenant_id=tenant_id)
        if record is None:
            raise NotFound(f"No key {key_id}.", code="key_not_found")
        key, changed = record
        if changed:
            self.audit.record_team_event(
                key.tenantId,
                team_events.KEY_REVOKED,
                actor=actor,
                channel=channel,
                ip=ip,
                details={"keyId": key.keyId, "name": key.name},
            )
        return key.to_json()

    def add_approver(self, tenant_ref: str, email: str, role: Role | None = None) -> dict[str, Any]:
        """Add a member already confirmed (role approver unless ``role``; an invited one is
        confirmed; an existing one keeps their role unless ``role`` changes it)."""
        tenant = self.tenant(tenant_ref)
        member = self.teams.add_member(tenant.tenantId, email, role)
        self._changed(tenant)
        return member.view()

    def remove_approver(self, tenant_ref: str, email: str, *, lower_floor: bool = False) -> dict[str, Any]:
        """Remove a member.  The last owner stays (``last_owner``).  When the approvers left could
        no longer meet the policy floor (every create would fail), refuse — unless
        ``lower_floor``: then the floor's minimum of approvals drops to what is left, and the
        answer says so."""
        tenant = self.tenant(tenant_ref)
        removed = self.teams.remove(
            tenant.tenantId,
            email,
            actor=ADMIN,
            channel="admin",
            lower_floor=lower_floor,
            floor_hint="pass --lower-floor to lower the floor",
        )
        self._changed(tenant)
        answer: dict[str, Any] = {
            "tenantId": tenant.tenantId,
            "removed": removed.member.email,
            "approversLeft": removed.left,
        }
        if removed.floor is not None:
            answer["floor"] = removed.floor
        return answer

    def invite(self, tenant_ref: str, email: str, role: Role | None = None, *, resend: bool = False) -> dict[str, Any]:
        """Email an invitation (or, with ``resend``, a new one replacing the pending one); the
        answer names who and until when, never the token."""
        tenant = self.tenant(tenant_ref)
        teams = self.teams
        if resend:
            invitation, _ = teams.resend(tenant.tenantId, email, actor=ADMIN, channel="admin")
        else:
            invitation, _ = teams.invite(tenant.tenantId, email, role or "approver", actor=ADMIN, channel="admin")
        self._changed(tenant)
        return {
            "tenantId": tenant.tenantId,
            "invited": invitation.email,
            "role": invitation.role,
            "expiresAt": invitation.expiresAt,
        }

    def list_members(self, tenant_ref: str) -> dict[str, Any]:
        """The tenant's members (owners first): role, status, joined, last active, pending
        invitations' expiry; and the plan's approver limit with what counts toward it."""
        tenant = self.tenant(tenant_ref)
        teams = self.teams
        return {
            "tenantId": tenant.tenantId,
            "name": tenant.name,
            "seats": teams.seats(tenant.tenantId),
            "members": [_member_view(m) for m in teams.members(tenant.tenantId)],
        }

    def _changed(self, tenant: Tenant) -> None:
        """A tenant the operator changed: listed, and its older members findable by email."""
        self.store.mark_listed(tenant)
        self.store.upgrade_members(tenant.tenantId)

    def set_plan(self, tenant_ref: str, plan: PlanName) -> dict[str, Any]:
        tenant = self.tenant(tenant_ref)
        changed = tenant.model_copy(update={"plan": plan})
        self._check_approver_room(
            changed, seats_taken(self.store.approvers(tenant.tenantId), timeutil.iso(timeutil.now()))
        )
        allowed = rules.PLANS[plan].approvers
        needed = tenant.floor.minRequiredApprovals
        if allowed is not None and not _meetable(needed, allowed):
            raise Unprocessable(
                f"{tenant.name}'s policy floor needs {needed} approvals and the {plan} plan allows "
                f"{_approvers(allowed)}: every create would fail. Lower the floor first "
                f"(set-policy {tenant.name} --min-approvals {allowed}).",
                code="floor_unmeetable",
            )
        self.store.set_plan(tenant.tenantId, plan)
        self.store.mark_listed(tenant)
        if plan != tenant.plan:
            self.audit.record_team_event(
                tenant.tenantId,
                team_events.PLAN_CHANGED,
                actor=ADMIN,
                channel="admin",
                details={"from": tenant.plan, "to": plan},
            )
        return changed.to_json()

    def set_policy(
        self,
        tenant_ref: str,
        *,
        allow_auto_approve: bool | None = None,
        min_required_approvals: int | None = None,
        min_auto_approve_timeout_seconds: int | None = None,
        actor: str = ADMIN,
        channel: Channel = "admin",
        ip: str | None = None,
        lower_hint: str = "give --min-approvals {n}",
    ) -> dict[str, Any]:
        """Change the tenant's policy floor; what is not given stays as it is.  The next create
        uses it (a create reads its tenant fresh).  A floor no create could meet is refused
        (``floor_unmeetable``, saying what to do); a change is recorded with the floor before
        and after."""
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
        self._check_floor_meetable(tenant, floor.minRequiredApprovals, lower_hint)
        if floor.allowAutoApprove and floor.minAutoApproveTimeoutSeconds > MAX_TIMEOUT_S:
            raise Unprocessable(
                f"Auto-approval needs a timeout of at least {floor.minAutoApproveTimeoutSeconds} s, longer than "
                f"any pause may wait ({MAX_TIMEOUT_S} s): no create could use it.",
                code="floor_unmeetable",
            )
        self.store.set_floor(tenant.tenantId, floor.to_json())
        self.store.mark_listed(tenant)
        if floor != tenant.floor:
            self.audit.record_team_event(
                tenant.tenantId,
                team_events.POLICY_CHANGED,
                actor=actor,
                channel=channel,
                ip=ip,
                details={"from": tenant.floor.to_json(), "to": floor.to_json()},
            )
        return {"tenantId": tenant.tenantId, "name": tenant.name, "floor": floor.to_json()}

    def rename(
        self, tenant_ref: str, name: str, *, actor: str = ADMIN, channel: Channel = "admin", ip: str | None = None
    ) -> dict[str, Any]:
        """Give the team a new name (1 to 80 characters, spaces collapsed).  Names need not be
        unique — sign-up does not ask either, and refusing a taken name would tell an owner the
        names of other customers' teams; ``hitl-admin`` then asks for the tenant id."""
        tenant = self.tenant(tenant_ref)
        wanted = " ".join(name.split())
        if not wanted or len(wanted) > MAX_TEAM_NAME:
            raise Unprocessable(f"Give the team a name of 1 to {MAX_TEAM_NAME} characters.", code="invalid_team")
        if wanted != tenant.name:
            self.store.rename(tenant.tenantId, wanted)
            self.audit.record_team_event(
                tenant.tenantId,
                team_events.TEAM_RENAMED,
                actor=actor,
                channel=channel,
                ip=ip,
                details={"from": tenant.name, "to": wanted},
            )
        return {**tenant.to_json(), "name": wanted}

    def describe(self, tenant_ref: str) -> dict[str, Any]:
        """The tenant, its approvers, and this month's pauses: the quota counter on metered
        plans; on unmetered ones (which keep no counter) a bounded count of the month's pauses.
        ``seats``: the plan's approver limit and what counts toward it (members and pending
        invitations, as ``Teams.seats`` counts them)."""
        tenant = self.tenant(tenant_ref)
        now = timeutil.now()
        month = timeutil.month_key(now)
        limit = rules.PLANS[tenant.plan].monthly_pauses
        usage: dict[str, Any] = {"month": month, "limit": limit}
        if limit is not None:
            usage["pauses"] = self.store.quota_used(tenant.tenantId, month)
        else:
            counted = self.store.pauses_created(tenant.tenantId, month)
            usage["pauses"] = counted.value
            if not counted.complete:
                usage["atLeast"] = True
        members = self.store.approvers(tenant.tenantId)
        return {
            **tenant.to_json(),
            "approvers": [a.view() for a in members],
            "usage": usage,
            "seats": {
                "plan": tenant.plan,
                "limit": rules.PLANS[tenant.plan].approvers,
                "used": seats_taken(members, timeutil.iso(now)),
            },
        }

    def list_tenants(self, limit: int = LIST_LIMIT) -> dict[str, Any]:
        """Every listed tenant, oldest first (a tenant made before the listing existed appears once
        it is next changed: set-plan, set-policy, add-approver, remove-approver)."""
        if limit < 1:
            raise Unprocessable("The limit is at least 1.")
        found, more = self.store.list_tenants(limit=limit)
        return {"tenants": [asdict(t) for t in found], "more": more}

    def list_keys(self, tenant_ref: str) -> dict[str, Any]:
        """The tenant's API keys, newest first: ids, names and last 4 characters, never a key."""
        tenant = self.tenant(tenant_ref)
        return {
            "tenantId": tenant.tenantId,
            "name": tenant.name,
            "keys": [_key_view(k) for k in self.store.list_keys(tenant.tenantId)],
        }

    def _confirmed(self, tenant: Tenant) -> set[str]:
        return {a.email for a in self.store.approvers(tenant.tenantId) if a.status == "confirmed"}

    def _check_floor_meetable(self, tenant: Tenant, needed: int, lower_hint: str = "give --min-approvals {n}") -> None:
        """Refuse a floor no create could meet: more approvals than the tenant has approvers
        (``lower_hint``: how the caller's user lowers it, ``{n}`` the most it may be)."""
        if needed <= 1:
            return
        have = len(self._confirmed(tenant))
        if _meetable(needed, have):
            return
        allowed = rules.PLANS[tenant.plan].approvers
        if allowed is not None and needed > allowed:
            how = f"the {tenant.plan} plan allows {_approvers(allowed)}: change the plan first"
        else:
            how = "add approvers first"
        raise Unprocessable(
            f"A floor of {needed} approvals cannot be met: {tenant.name} has {_approvers(have)} "
            f"and every create would fail ({how}, or {lower_hint.format(n=max(have, 1))}).",
            code="floor_unmeetable",
        )

    @staticmethod
    def _check_approver_room(tenant: Tenant, count: int) -> None:
        allowed = rules.PLANS[tenant.plan].approvers
        if allowed is not None and count > allowed:
            raise Unprocessable(
                f"The {tenant.plan} plan allows {allowed} approver{'s' if allowed != 1 else ''}.",
                code="plan_limit",
            )


def _meetable(needed: int, approvers: int) -> bool:
    """Whether ``approvers`` confirmed approvers can give ``needed`` approvals.  A floor of 1 is
    the default and always allowed: a tenant without approvers gets ``no_approvers`` anyway."""
    return needed <= 1 or needed <= approvers


def _approvers(count: int) -> str:
    return f"{count} approver{'' if count == 1 else 's'}"


def _member_view(member: Approver) -> dict[str, Any]:
    shown = member.view()
    shown.pop("tenantId")
    return shown


def _key_view(key: ApiKeyRecord) -> dict[str, Any]:
    """What a key listing may show: never the key, never its hash."""
    shown = key.to_json()
    shown.pop("tenantId")
    return shown


#: the older name of ``teams.normal_email``
_normal_email = normal_email
