"""Reading a pause, and waiting for its decision (the long-poll)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from hitl import timeutil
from hitl.domain import rules
from hitl.domain.auth import Principal
from hitl.domain.base import UseCase, not_found
from hitl.domain.errors import TooManyWaits, Unauthorized
from hitl.domain.models import PauseBody, PauseHead, pause_view


def poll_interval(elapsed: float) -> float:
    """Every 100 ms for the first 10 s of a wait, then every 200 ms (a re-read is one small GetItem)."""
    return 0.1 if elapsed < 10 else 0.2


class Reading(UseCase):
    def get(self, principal: Principal, watch_id: str) -> tuple[PauseHead, PauseBody]:
        found = self.pauses.get(watch_id)
        if found is None or found[0].tenantId != principal.tenant_id:
            raise not_found(watch_id)
        head, body = found
        return rules.effective(head, self.clock()), body

    def view(self, principal: Principal, watch_id: str) -> dict[str, Any]:
        return pause_view(*self.get(principal, watch_id))

    def wait(self, principal: Principal, watch_id: str, seconds: float) -> dict[str, Any]:
        """The pause as soon as it leaves ``pending``, or after ``seconds`` with the pending pause.
        Re-reads only the head: every 100 ms at first, slower as the wait goes on."""
        head, body = self.get(principal, watch_id)
        if head.status != "pending" or seconds <= 0:
            return pause_view(head, body)
        tenant = self.tenants.get_tenant(principal.tenant_id)  # the plan's cap, read fresh
        if tenant is None:
            raise Unauthorized("The API key is not valid.", code="invalid_api_key")
        now = self.clock()
        lease_id = secrets.token_hex(8)
        deadline = time.monotonic() + seconds
        cap = rules.PLANS[tenant.plan].concurrent_waits
        if not self.waits.acquire(
            tenant.tenantId, lease_id, cap, timeutil.epoch(now) + int(seconds) + 5, timeutil.epoch(now)
        ):
            raise TooManyWaits(
                f"This tenant already has {cap} waits open; poll without ?wait or use a webhook.",
                details={"limit": cap},
            )
        try:
            started = time.monotonic()
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self.sleep(min(poll_interval(time.monotonic() - started), remaining))
                latest = self.pauses.get_head(watch_id)
                if latest is None:
                    break
                head = rules.effective(latest, self.clock())
                if head.status != "pending":
                    break
        finally:
            self.waits.release(tenant.tenantId, lease_id)
        return pause_view(head, body)
