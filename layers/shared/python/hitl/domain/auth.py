"""Who is calling: an API key turned into a Principal (the tenant's id and the key)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from hitl import ids, timeutil
from hitl.domain.errors import Unauthorized
from hitl.domain.models import ApiKeyRecord
from hitl.domain.ports import TenantRepository

#: how often a key's last use is written at most
LAST_USED_EVERY = timedelta(hours=1)


@dataclass(frozen=True)
class Principal:
    """A tenant, through one of its API keys.  Only this is cached: what a use case needs of
    the tenant (plan, policy floor, approvers) it reads fresh, so a change counts at once."""

    tenant_id: str
    key: ApiKeyRecord


@dataclass
class Authenticator:
    """Turns a bearer key into a Principal.  A malformed key or a bad checksum is refused with no
    database call.  By default every request reads its key (one eventually consistent GetItem),
    so a revoked key is refused at the next request; ``cache_seconds`` > 0 lets a warm function
    trust a lookup that long instead (a revoked key then stops working within it)."""

    tenants: TenantRepository
    cache_seconds: int = 0
    clock: Callable[[], float] = time.monotonic
    _cache: dict[str, tuple[float, Principal | None]] = field(default_factory=dict)

    def authenticate(self, authorization: str | None) -> Principal:
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise Unauthorized("Send your API key as 'Authorization: Bearer hitl_…'.", code="missing_api_key")
        if not ids.is_well_formed_key(key):
            raise Unauthorized("The API key is not valid.", code="invalid_api_key")
        key_hash = ids.sha256_hex(key)
        cached = self._cache.get(key_hash)
        if cached and cached[0] > self.clock():
            principal = cached[1]
        else:
            principal = self._lookup(key_hash)
            if self.cache_seconds > 0:
                self._cache[key_hash] = (self.clock() + self.cache_seconds, principal)
        if principal is None:
            raise Unauthorized("The API key is not valid.", code="invalid_api_key")
        return principal

    def _lookup(self, key_hash: str) -> Principal | None:
        record = self.tenants.get_api_key(key_hash)
        if record is None or record.revoked:
            return None
        now = timeutil.now()
        if record.lastUsedAt is None or timeutil.parse(record.lastUsedAt) < now - LAST_USED_EVERY:
            self.tenants.touch_key(key_hash, timeutil.iso(now), timeutil.iso(now - LAST_USED_EVERY))
        return Principal(tenant_id=record.tenantId, key=record)
