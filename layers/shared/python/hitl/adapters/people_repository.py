"""People in the single table: dashboard sessions, sign-in links and rate-limit counters."""

from __future__ import annotations

from hitl import wiring
from hitl.adapters import keys
from hitl.adapters.table import Table
from hitl.domain.people import LoginLink, Session

#: the most sessions one person's listing reads (older ones still expire by themselves)
SESSION_LIST_LIMIT = 100


class DynamoPeople:
    def __init__(self, table: Table) -> None:
        self.table = table

    # --- sessions ----------------------------------------------------------------------------------

    def put_session(self, secret_hash: str, session: Session, ttl: int) -> None:
        item = {
            **session.to_json(),
            "lookupPk": keys.sessions_of(session.email),
            "lookupSk": keys.list_sort(session.createdAt, session.sessionId),
            "secretHash": secret_hash,
            wiring.TTL_ATTRIBUTE: ttl,
        }
        self.table.put(keys.session(secret_hash), item)

    def get_session(self, secret_hash: str) -> Session | None:
        item = self.table.get(keys.session(secret_hash))
        return Session.from_item(item) if item else None

    def touch_session(self, secret_hash: str, now: str, older_than: str) -> None:
        """Record activity at most once per period (only if the last is older than ``older_than``)."""
        self.table.update(
            keys.session(secret_hash),
            "SET lastSeenAt = :now",
            condition="attribute_exists(pk) AND lastSeenAt < :old",
            now=now,
            old=older_than,
        )

    def switch_team(self, secret_hash: str, tenant_id: str) -> None:
        self.table.update(
            keys.session(secret_hash), "SET tenantId = :tenant", condition="attribute_exists(pk)", tenant=tenant_id
        )

    def delete_session(self, secret_hash: str) -> None:
        self.table.delete(keys.session(secret_hash))

    def sessions_of(self, email: str) -> list[tuple[str, Session]]:
        """A person's sessions, newest first, each with the hash it is stored under."""
        page = self.table.query(
            index=wiring.LOOKUP.name,
            key_condition="lookupPk = :lpk",
            forward=False,
            limit=SESSION_LIST_LIMIT,
            lpk=keys.sessions_of(email),
        )
        return [(str(i["secretHash"]), Session.from_item(i)) for i in page.items]

    # --- sign-in links -------------------------------------------------------------------------------

    def put_login_link(self, token_hash: str, link: LoginLink, ttl: int) -> None:
        self.table.put(keys.login_link(token_hash), {**link.to_json(), wiring.TTL_ATTRIBUTE: ttl})

    def get_login_link(self, token_hash: str) -> LoginLink | None:
        item = self.table.get(keys.login_link(token_hash))
        return LoginLink.from_item(item) if item else None

    def count_code_attempt(self, token_hash: str, max_attempts: int) -> bool:
        """Count one wrong code; False when the link had no attempt left (or is used or gone)."""
        return (
            self.table.update(
                keys.login_link(token_hash),
                "SET attempts = attempts + :one",
                condition="attribute_exists(pk) AND attribute_not_exists(usedAt) AND attempts < :max",
                one=1,
                max=max_attempts,
            )
            is not None
        )

    def use_login_link(self, token_hash: str, now: str, max_attempts: int) -> bool:
        """Use the link up: once, before it expires, while it has attempts left."""
        return (
            self.table.update(
                keys.login_link(token_hash),
                "SET usedAt = :now",
                condition=(
                    "attribute_exists(pk) AND attribute_not_exists(usedAt) AND expiresAt > :now AND attempts < :max"
                ),
                now=now,
                max=max_attempts,
            )
            is not None
        )

    # --- rate limits ---------------------------------------------------------------------------------

    def count(self, what: str, who_hash: str, window: int, ttl: int) -> int:
        """Add one to the counter of ``who`` in ``window``; the count after it."""
        updated = self.table.update(
            keys.rate_counter(what, who_hash, window),
            "ADD hits :one SET #ttl = if_not_exists(#ttl, :ttl)",
            names={"#ttl": wiring.TTL_ATTRIBUTE},
            returns="UPDATED_NEW",
            one=1,
            ttl=ttl,
        )
        return int((updated or {}).get("hits", 1))
