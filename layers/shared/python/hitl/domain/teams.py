"""A team's members: owners and approvers, invitations by email, roles, removal.

Rules (DESIGN.md "People and roles"):

* every member (owner or approver) counts toward the plan's approver limit, and so does every
  pending invitation (one that has not expired): an invitation over the limit is refused
  (``plan_limit``);
* an invitation is a random 256-bit token, single use, valid 7 days; only its sha256 is stored.
  A re-send makes a new token and the old one stops working; a revoke withdraws it.  The invited
  member receives no pause and cannot be named until they accept;
* a team always keeps at least one confirmed owner (``last_owner``): checked here, and again in
  the write (a condition on another owner's item), so two owners demoting each other at once
  cannot leave none;
* removing a member takes effect at once: their emailed links stop working (``Deciding.link``
  checks the membership) and so do their sessions for the team (the dashboard checks ``member``
  on every request).

Every change is recorded through the ``TeamAudit`` port with who did it, the channel and the IP.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, get_args

from hitl import ids, timeutil
from hitl.domain import rules, team_events
from hitl.domain.errors import Conflict, Gone, NotFound, Unprocessable
from hitl.domain.models import Approver, Channel, Role, Tenant
from hitl.domain.ports import Invitation, InvitationMailer, TeamAudit, TeamRepository, TransactionRefused

INVITATION_DAYS = 7
ROLES: tuple[Role, ...] = get_args(Role)
#: the actor of what the operator's ``hitl-admin`` does
ADMIN = "admin"

#: why an invitation link no longer works, as its page says it
INVITATION_REASONS = {
    "unknown": "This invitation link is not valid. Check that the whole link was opened.",
    "used": "This invitation was accepted already: sign in to open the team.",
    "expired": "This invitation expired. Ask the team's owner to send a new one.",
    "revoked": "This invitation was withdrawn by the team's owner.",
    "replaced": "A newer invitation was sent to this address: use the link in the latest email.",
}


class InvitationNotValid(Gone):
    """An invitation that cannot be shown or accepted; ``reason`` is one of
    ``INVITATION_REASONS`` (the code is ``invitation_<reason>``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(INVITATION_REASONS[reason], code=f"invitation_{reason}", details={"reason": reason})
        self.reason = reason


@dataclass(frozen=True)
class InvitationView:
    """What ``GET /invite/{token}`` shows."""

    tenantId: str
    teamName: str
    email: str
    role: Role
    invitedBy: str
    expiresAt: str


@dataclass(frozen=True)
class Removed:
    member: Approver
    #: confirmed members left
    left: int
    #: the floor as lowered to what is left (only when asked to)
    floor: dict[str, Any] | None = None


def normal_email(email: str) -> str:
    """An email address as stored: trimmed, lower-case; ``invalid_email`` if it is not one."""
    email = email.strip().lower()
    local, _, domain = email.partition("@")
    if not local or "." not in domain or any(c.isspace() for c in email):
        raise Unprocessable(f"{email!r} is not an email address.", code="invalid_email")
    return email


def checked_role(role: str) -> Role:
    for known in ROLES:
        if role == known:
            return known
    raise Unprocessable(f"A role is one of {', '.join(ROLES)}, not {role!r}.", code="invalid_role")


def seats_taken(members: Iterable[Approver], now: str, *, besides: str | None = None) -> int:
    """What counts toward the plan's approver limit: confirmed members and unexpired invitations
    (``besides``: leave this email out)."""
    return sum(
        1
        for m in members
        if m.email != besides
        and (m.status == "confirmed" or (m.invitationExpiresAt is not None and m.invitationExpiresAt > now))
    )


def confirmed_owners(members: Iterable[Approver]) -> list[str]:
    return sorted(m.email for m in members if m.role == "owner" and m.status == "confirmed")


def plan_limit(tenant: Tenant, taken: int) -> Unprocessable | None:
    """The refusal of one more seat, if the plan has no room for it."""
    allowed = rules.PLANS[tenant.plan].approvers
    if allowed is None or taken + 1 <= allowed:
        return None
    plural = "s" if allowed != 1 else ""
    return Unprocessable(
        f"The {tenant.plan} plan allows {allowed} approver{plural}, counting pending invitations; "
        f"{tenant.name} has {taken}. Remove a member or revoke an invitation first, or change the plan.",
        code="plan_limit",
        details={"plan": tenant.plan, "limit": allowed, "used": taken},
    )


def inviter_name(actor: str) -> str:
    return "The operator of this HITL service" if actor == ADMIN else actor


class Teams:
    """The owners' team management (the dashboard's ``/app/team``, the operator's ``hitl-admin``)
    and the invitee's ``/invite/{token}``.  ``mailer`` sends invitations (none: nothing is sent,
    as in tests that read the returned token)."""

    def __init__(
        self,
        store: TeamRepository,
        audit: TeamAudit,
        *,
        base_url: str,
        mailer: InvitationMailer | None = None,
        clock: Callable[[], datetime] = timeutil.now,
    ) -> None:
        self.store = store
        self.audit = audit
        self.base_url = base_url.rstrip("/")
        self.mailer = mailer
        self.clock = clock

    def invite_url(self, token: str) -> str:
        return f"{self.base_url}/invite/{token}"

    # --- reading ---------------------------------------------------------------------------------

    def members(self, tenant_id: str) -> list[Approver]:
        """The team's members, confirmed and invited: owners first, then by email."""
        return sorted(self.store.approvers(tenant_id), key=lambda m: (m.role != "owner", m.email))

    def seats(self, tenant_id: str) -> dict[str, Any]:
        """The plan's approver limit and what counts toward it (``limit`` None: unlimited)."""
        tenant = self._tenant(tenant_id)
        taken = seats_taken(self.store.approvers(tenant_id), timeutil.iso(self.clock()))
        return {"plan": tenant.plan, "limit": rules.PLANS[tenant.plan].approvers, "used": taken}

    # --- invitations -------------------------------------------------------------------------

    def invite(
        self,
        tenant_id: str,
        email: str,
        role: str = "approver",
        *,
        actor: str,
        ip: str | None = None,
        channel: Channel = "dashboard",
    ) -> tuple[Invitation, str]:
        """Invite ``email`` as ``role``: the member is stored invited, the invitation emailed.
        Returns the invitation and its token (the only place the token exists besides the email)."""
        wanted = checked_role(role)
        email = normal_email(email)
        tenant = self._tenant(tenant_id)
        existing = self.store.member(tenant_id, email)
        if existing is not None:
            raise _already(existing, tenant)
        now = self.clock()
        refused = plan_limit(tenant, seats_taken(self.store.approvers(tenant_id), timeutil.iso(now)))
        if refused:
            raise refused
        invitation, token, member = self._new_invitation(tenant, email, wanted, actor, now, created=None)
        try:
            self.store.put_invitation(ids.sha256_hex(token), invitation, member, replaces=None)
        except TransactionRefused as race:
            found = self.store.member(tenant_id, email)
            raise _already(found, tenant) if found else Conflict("Try again.", code="conflict") from race
        self._record(tenant_id, team_events.MEMBER_INVITED, actor, channel, ip, email=email, role=wanted)
        self._send(tenant, invitation, token)
        return invitation, token

    def resend(
        self, tenant_id: str, email: str, *, actor: str, ip: str | None = None, channel: Channel = "dashboard"
    ) -> tuple[Invitation, str]:
        """A new invitation for an invited member: a new token, 7 more days; the old link stops
        working.  An expired invitation counts toward the limit again, so it is checked again."""
        tenant = self._tenant(tenant_id)
        member = self._invited(tenant, email)
        now = self.clock()
        at = timeutil.iso(now)
        if not (member.invitationExpiresAt and member.invitationExpiresAt > at):
            refused = plan_limit(tenant, seats_taken(self.store.approvers(tenant_id), at, besides=member.email))
            if refused:
                raise refused
        invitation, token, renewed = self._new_invitation(
            tenant, member.email, member.role, actor, now, created=member.createdAt
        )
        try:
            self.store.put_invitation(ids.sha256_hex(token), invitation, renewed, replaces=member.invitationHash)
        except TransactionRefused as race:
            raise Conflict(
                f"The invitation of {member.email} changed meanwhile; reload the team page.", code="conflict"
            ) from race
        self._record(tenant_id, team_events.INVITATION_RESENT, actor, channel, ip, email=member.email, role=member.role)
        self._send(tenant, invitation, token)
        return invitation, token

    def revoke_invitation(
        self, tenant_id: str, email: str, *, actor: str, ip: str | None = None, channel: Channel = "dashboard"
    ) -> Approver:
        """Withdraw a pending invitation: the invited member goes, the link stops working."""
        tenant = self._tenant(tenant_id)
        member = self._invited(tenant, email)
        try:
            self.store.revoke_invitation(member.invitationHash or "", member, timeutil.iso(self.clock()))
        except TransactionRefused as refused:
            if "member" in refused.reasons:
                found = self.store.member(tenant_id, member.email)
                if found is not None and found.status == "confirmed":
                    raise Conflict(
                        f"{member.email} accepted the invitation meanwhile; remove them instead.",
                        code="already_member",
                    ) from refused
                raise Conflict("The invitation changed meanwhile; reload the team page.", code="conflict") from refused
            # the invitation's own record is gone (kept 30 days past its expiry): the member still goes
            self.store.remove_member(tenant_id, member.email, keep_owner=None)
        self._record(tenant_id, team_events.INVITATION_REVOKED, actor, channel, ip, email=member.email)
        return member

    def invitation(self, token: str) -> InvitationView:
        """What an invitation link shows (changes nothing: mail scanners fetch every link);
        ``InvitationNotValid`` says why a link no longer works."""
        invitation, member, tenant = self._valid(token)
        return InvitationView(
            tenantId=tenant.tenantId,
            teamName=tenant.name,
            email=member.email,
            role=member.role,
            invitedBy=inviter_name(invitation.invitedBy),
            expiresAt=invitation.expiresAt,
        )

    def accept(self, token: str, *, ip: str | None = None) -> Approver:
        """Accept an invitation: it is used up (once, before it expires, only while it is the
        member's current one) and the member becomes confirmed, in one conditional write."""
        _, member, _ = self._valid(token)
        at = timeutil.iso(self.clock())
        try:
            self.store.accept_invitation(ids.sha256_hex(token), member, at)
        except TransactionRefused as refused:
            self._valid(token)  # raises the reason: used, revoked, replaced or expired meanwhile
            raise Conflict("The invitation changed meanwhile; open the link again.", code="conflict") from refused
        joined = member.model_copy(
            update={"status": "confirmed", "joinedAt": at, "invitationHash": None, "invitationExpiresAt": None}
        )
        self._record(
            member.tenantId,
            team_events.MEMBER_JOINED,
            member.email,
            "dashboard",
            ip,
            email=member.email,
            role=member.role,
        )
        return joined

    # --- members -----------------------------------------------------------------------------

    def add_member(
        self,
        tenant_id: str,
        email: str,
        role: str | None = None,
        *,
        actor: str = ADMIN,
        ip: str | None = None,
        channel: Channel = "admin",
    ) -> Approver:
        """Add a member already confirmed (the operator's ``add-approver``): new ones as ``role``
        (default approver); an invited one is confirmed (their invitation link then reads as
        used); a confirmed one keeps their role unless ``role`` changes it."""
        email = normal_email(email)
        tenant = self._tenant(tenant_id)
        wanted = checked_role(role) if role is not None else None
        existing = self.store.member(tenant_id, email)
        if existing is not None and existing.status == "confirmed":
            if wanted is None or wanted == existing.role:
                return existing
            return self.change_role(tenant_id, email, wanted, actor=actor, ip=ip, channel=channel)
        now = self.clock()
        at = timeutil.iso(now)
        if existing is None:
            refused = plan_limit(tenant, seats_taken(self.store.approvers(tenant_id), at))
            if refused:
                raise refused
        member = Approver(
            tenantId=tenant_id,
            email=email,
            status="confirmed",
            role=wanted or (existing.role if existing else "approver"),
            createdAt=existing.createdAt if existing else at,
            invitedBy=existing.invitedBy if existing else None,
            joinedAt=at,
        )
        self.store.put_member(member)
        self._record(tenant_id, team_events.MEMBER_ADDED, actor, channel, ip, email=email, role=member.role)
        return member

    def change_role(
        self,
        tenant_id: str,
        email: str,
        role: str,
        *,
        actor: str,
        ip: str | None = None,
        channel: Channel = "dashboard",
    ) -> Approver:
        """Make a member an owner or an approver; the last confirmed owner stays one (``last_owner``)."""
        wanted = checked_role(role)
        tenant = self._tenant(tenant_id)
        member = self._member(tenant, email)
        if member.role == wanted:
            return member
        keep = self._other_owner(tenant, member) if wanted != "owner" else None
        try:
            self.store.set_role(tenant_id, member.email, wanted, keep_owner=keep)
        except TransactionRefused as refused:
            if "member" in refused.reasons:
                raise _not_member(tenant, member.email) from refused
            raise _last_owner(tenant, member.email) from refused  # the other owner stopped being one meanwhile
        self._record(
            tenant_id,
            team_events.ROLE_CHANGED,
            actor,
            channel,
            ip,
            email=member.email,
            **{"from": member.role, "to": wanted},
        )
        return member.model_copy(update={"role": wanted})

    def remove(
        self,
        tenant_id: str,
        email: str,
        *,
        actor: str,
        ip: str | None = None,
        channel: Channel = "dashboard",
        lower_floor: bool = False,
        floor_hint: str = "lower the policy floor",
    ) -> Removed:
        """Remove a member, at once.  Refused for the last confirmed owner (``last_owner``), and
        when the confirmed members left could not meet the policy floor (``floor_unmeetable``:
        every create would fail) unless ``lower_floor``: the floor then drops to what is left."""
        tenant = self._tenant(tenant_id)
        member = self._member(tenant, email)
        members = self.store.approvers(tenant_id)
        left = len({m.email for m in members if m.status == "confirmed"} - {member.email})
        keep = self._other_owner(tenant, member, members)
        floor = tenant.floor
        lowered = None
        if member.status == "confirmed" and not _meetable(floor.minRequiredApprovals, left):
            if not lower_floor:
                raise Unprocessable(
                    f"{tenant.name}'s policy floor needs {floor.minRequiredApprovals} approvals and removing "
                    f"{member.email} leaves {_approvers(left)}: every create would fail. Add another approver "
                    f"first, or {floor_hint} to {max(left, 1)}.",
                    code="floor_unmeetable",
                    details={"needed": floor.minRequiredApprovals, "left": left},
                )
            lowered = floor.model_copy(update={"minRequiredApprovals": max(left, 1)})
        try:
            self.store.remove_member(tenant_id, member.email, keep_owner=keep)
        except TransactionRefused as refused:
            if "member" in refused.reasons:
                raise _not_member(tenant, member.email) from refused
            raise _last_owner(tenant, member.email) from refused
        if lowered is not None:
            self.store.set_floor(tenant_id, lowered.to_json())
        self._record(tenant_id, team_events.MEMBER_REMOVED, actor, channel, ip, email=member.email, role=member.role)
        return Removed(member=member, left=left, floor=lowered.to_json() if lowered else None)

    # --- helpers -----------------------------------------------------------------------------

    def _tenant(self, tenant_id: str) -> Tenant:
        tenant = self.store.get_tenant(tenant_id)
        if tenant is None:
            raise NotFound(f"No team {tenant_id}.", code="team_not_found")
        return tenant

    def _member(self, tenant: Tenant, email: str) -> Approver:
        email = normal_email(email)
        member = self.store.member(tenant.tenantId, email)
        if member is None:
            raise _not_member(tenant, email)
        return member

    def _invited(self, tenant: Tenant, email: str) -> Approver:
        member = self._member(tenant, email)
        if member.status != "invited":
            raise NotFound(f"{member.email} has no pending invitation to {tenant.name}.", code="no_invitation")
        return member

    def _other_owner(self, tenant: Tenant, member: Approver, members: list[Approver] | None = None) -> str | None:
        """Another confirmed owner that must remain when ``member`` stops being one (None when
        ``member`` is not a confirmed owner); ``last_owner`` when there is none."""
        if member.role != "owner" or member.status != "confirmed":
            return None
        others = [e for e in confirmed_owners(members or self.store.approvers(tenant.tenantId)) if e != member.email]
        if not others:
            raise _last_owner(tenant, member.email)
        return others[0]

    def _new_invitation(
        self, tenant: Tenant, email: str, role: Role, actor: str, now: datetime, *, created: str | None
    ) -> tuple[Invitation, str, Approver]:
        token = ids.new_invitation_token()
        at = timeutil.iso(now)
        expires = timeutil.iso(now + timedelta(days=INVITATION_DAYS))
        invitation = Invitation(
            tenantId=tenant.tenantId, email=email, role=role, invitedBy=actor, createdAt=at, expiresAt=expires
        )
        member = Approver(
            tenantId=tenant.tenantId,
            email=email,
            status="invited",
            role=role,
            createdAt=created or at,
            invitedBy=actor,
            invitationHash=ids.sha256_hex(token),
            invitationExpiresAt=expires,
        )
        return invitation, token, member

    def _valid(self, token: str) -> tuple[Invitation, Approver, Tenant]:
        """The invitation, its member and team, while the link may be accepted; else why not."""
        token_hash = ids.sha256_hex(token) if ids.is_invitation_token(token) else None
        invitation = self.store.get_invitation(token_hash) if token_hash else None
        if invitation is None:
            raise InvitationNotValid("unknown")
        if invitation.usedAt:
            raise InvitationNotValid("used")
        if invitation.revokedAt:
            raise InvitationNotValid("revoked")
        member = self.store.member(invitation.tenantId, invitation.email)
        if member is None:
            raise InvitationNotValid("revoked")
        if member.status == "confirmed":
            raise InvitationNotValid("used")
        if member.invitationHash != token_hash:
            raise InvitationNotValid("replaced")
        if invitation.expiresAt <= timeutil.iso(self.clock()):
            raise InvitationNotValid("expired")
        tenant = self.store.get_tenant(invitation.tenantId)
        if tenant is None:
            raise InvitationNotValid("unknown")
        return invitation, member, tenant

    def _send(self, tenant: Tenant, invitation: Invitation, token: str) -> None:
        if self.mailer is None:
            return
        self.mailer.send_invitation(
            invitation.email,
            tenant.name,
            inviter_name(invitation.invitedBy),
            self.invite_url(token),
            role=invitation.role,
            expires_at=invitation.expiresAt,
        )

    def _record(self, tenant_id: str, type_: str, actor: str, channel: Channel, ip: str | None, **details: Any) -> None:
        self.audit.record_team_event(tenant_id, type_, actor=actor, channel=channel, ip=ip, details=details)


def _already(member: Approver, tenant: Tenant) -> Conflict:
    if member.status == "confirmed":
        return Conflict(f"{member.email} is a member of {tenant.name} already.", code="already_member")
    return Conflict(
        f"{member.email} is invited to {tenant.name} already: re-send the invitation instead.", code="already_invited"
    )


def _not_member(tenant: Tenant, email: str) -> NotFound:
    return NotFound(f"{email} is not a member of {tenant.name}.", code="member_not_found")


def _last_owner(tenant: Tenant, email: str) -> Conflict:
    return Conflict(
        f"{email} is the last owner of {tenant.name}: a team always keeps one. Make another member an owner first.",
        code="last_owner",
    )


def _meetable(needed: int, approvers: int) -> bool:
    """Whether ``approvers`` confirmed approvers can give ``needed`` approvals.  A floor of 1 is
    the default and always allowed: a tenant without approvers gets ``no_approvers`` anyway."""
    return needed <= 1 or needed <= approvers


def _approvers(count: int) -> str:
    return f"{count} approver{'' if count == 1 else 's'}"
