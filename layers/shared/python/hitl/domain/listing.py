"""The tenant's pauses, newest first (filtered by status as time reads it), paged by offset or by
a signed cursor.  The audit log is ``hitl.domain.audit_log``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from hitl.domain import cursor, rules
from hitl.domain.auth import Principal
from hitl.domain.base import UseCase
from hitl.domain.errors import BadRequest
from hitl.domain.models import PauseHead, Status, pause_summary
from hitl.domain.ports import InvalidPosition, ListPage, Position

T = TypeVar("T")
MAX_OFFSET = 1000


def stored_statuses_for(status: Status | None) -> list[Status]:
    """Stored statuses that may read as ``status`` once time has had its say."""
    if status is None:
        return []
    if status in ("expired", "approved"):
        return [status, "pending"]
    return [status]


class Listing(UseCase):
    def list_pauses(
        self, principal: Principal, status: Status | None, limit: int, offset: int, cursor_text: str | None
    ) -> dict[str, Any]:
        now = self.clock()
        statuses = stored_statuses_for(status)

        def fetch(start: Position | None, size: int) -> ListPage[PauseHead]:
            return self.pauses.list_pauses(principal.tenant_id, statuses, start, size)

        def keep(head: PauseHead) -> dict[str, Any] | None:
            shown = rules.effective(head, now)
            return pause_summary(shown) if not status or shown.status == status else None

        scope = f"pauses:{principal.tenant_id}:{status or ''}"
        return self._paged(fetch, keep, scope, limit, offset, cursor_text)

    def _paged(
        self,
        fetch: Callable[[Position | None, int], ListPage[T]],
        keep: Callable[[T], dict[str, Any] | None],
        scope: str,
        limit: int,
        offset: int,
        cursor_text: str | None,
    ) -> dict[str, Any]:
        """``limit`` kept items after skipping ``offset`` (or starting after ``cursor``), newest
        first; ``nextCursor`` continues after the last item shown, so each item appears once."""
        if offset > MAX_OFFSET:
            raise BadRequest(
                f"offset may be at most {MAX_OFFSET}; page further with cursor (nextCursor).",
                code="offset_too_large",
                details={"maxOffset": MAX_OFFSET},
            )
        if cursor_text and offset:
            raise BadRequest("Use either cursor or offset, not both.", code="invalid_query")
        secret = self.pauses.cursor_secret()
        start = cursor.decode(secret, scope, cursor_text) if cursor_text else None
        wanted = offset + limit
        kept: list[tuple[dict[str, Any], Position]] = []
        more = True
        while len(kept) < wanted + 1 and more:
            try:
                page = fetch(start, min(100, wanted + 1))
            except InvalidPosition as wrong:
                raise BadRequest("The cursor is not valid for this list.", code="invalid_cursor") from wrong
            for item, position in page.items:
                shown = keep(item)
                if shown is not None:
                    kept.append((shown, position))
            start = page.next
            more = start is not None
        window = kept[offset:wanted]
        next_cursor = None
        if len(kept) > wanted and window:
            next_cursor = cursor.encode(secret, scope, window[-1][1])
        return {"items": [shown for shown, _ in window], "limit": limit, "offset": offset, "nextCursor": next_cursor}
