"""The tenant's audit log: the team's events recorded, what each plan shows, the export, and the
hash chains that let anyone check an export or the table for edits and gaps.

Recording: every plan records everything.  A pause's entries are written by its transitions
(``creating``, ``deciding``); the team's events (``hitl.domain.team_events``) by
``AuditLog.record_team_event``.  A team entry is kept 365 days; a pause's entries as long as the
pause (its expiry plus its plan's retention).

Showing (read time, ``AUDIT_TIERS``): free shows pause events of the last 30 days, starter of the
last 90 days, pro pause and team events of the last year, and exports.  A ``team.*`` type asked
of a plan that does not show team events is refused (``plan_required``, 402) rather than
answered with an empty list that would look like nothing happened.

Chains: the entries of one pause form a chain, and so do the team's entries.  Each entry holds
``prevHash`` (the previous entry's ``hash``, ``GENESIS`` for the first) and ``hash`` = SHA-256 of
the canonical JSON of its non-null fields except ``hash``.  The newest hash is kept on the chain's
head (the pause head's ``auditHash``; the team's chain-head item), written in the same
conditional transaction as the entry, so entries cannot be appended out of order.

Retention is not tampering: DynamoDB's TTL deletes an entry only after its ``keepUntil``, and each
entry carries ``prevKeepUntil``, the ``keepUntil`` of the entry before it.  A link to a missing
entry is a gap only while that ``prevKeepUntil`` is in the future; after it, retention may have
taken the entry, so the chain simply starts there.  Likewise a head whose newest entry is gone is
fine once that entry's ``keepUntil`` has passed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from hitl import ids, timeutil
from hitl.domain import cursor, rules
from hitl.domain.base import not_found
from hitl.domain.errors import BadRequest, Conflict, PlanRequired, Unauthorized
from hitl.domain.listing import MAX_OFFSET
from hitl.domain.models import AuditEntry, Channel, PauseHead, PlanName
from hitl.domain.ports import InvalidPosition, ListPage, PauseRepository, Position, TenantRepository, TransactionRefused
from hitl.domain.team_events import is_team_event

#: the ``prevHash`` of a chain's first entry
GENESIS = "0" * 64
#: the chain name of the team's events (a pause's chain is named by its watchId)
TEAM_CHAIN = "team"
#: how long a team entry is kept, whatever the plan (what a plan shows is decided at read time)
TEAM_KEEP = timedelta(days=365)
#: a page of the log reads at most this many pages of the index (then it ends early, with a cursor)
MAX_PAGE_READS = 10
EXPORT_PAGE = 100
#: how often recording a team event re-reads a chain head that moved under it
ATTEMPTS = 8
ExportFormat = Literal["csv", "jsonl"]
EXPORT_FORMATS: list[ExportFormat] = ["csv", "jsonl"]
CSV_COLUMNS = (
    "auditId",
    "at",
    "type",
    "watchId",
    "actor",
    "channel",
    "ip",
    "details",
    "tenantId",
    "keepUntil",
    "prevKeepUntil",
    "prevHash",
    "hash",
)


@dataclass(frozen=True)
class AuditTier:
    """What a plan shows of the log."""

    days: int
    team_events: bool
    export: bool


AUDIT_TIERS: dict[PlanName, AuditTier] = {
    "free": AuditTier(days=rules.PLANS["free"].retention_days, team_events=False, export=False),
    "starter": AuditTier(days=rules.PLANS["starter"].retention_days, team_events=False, export=False),
    "pro": AuditTier(days=rules.PLANS["pro"].retention_days, team_events=True, export=True),
}


# --- chains ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainHead:
    """The newest entry of a chain, as its head records it."""

    hash: str | None
    keepUntil: str | None = None
    at: str | None = None


def entry_hash(entry: AuditEntry) -> str:
    """SHA-256 of the canonical JSON of the entry's non-null fields but ``hash``: a field added to
    entries later (null on old ones) leaves old hashes valid."""
    content = {name: value for name, value in entry.to_json().items() if value is not None and name != "hash"}
    return hashlib.sha256(rules.canonical_json(content).encode()).hexdigest()


def _as_stored(value: Any) -> Any:
    """A value as it reads back from the table (a number that is whole reads as an int), so a
    hash made before writing matches the entry read later."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _as_stored(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_as_stored(v) for v in value]
    return value


def chained(entry: AuditEntry, previous: ChainHead | None) -> AuditEntry:
    """``entry`` linked after ``previous`` (the chain's head; ``None``: it starts the chain)."""
    linked = entry.model_copy(
        update={
            "details": _as_stored(entry.details),
            "prevHash": previous.hash if previous and previous.hash else GENESIS,
            "prevKeepUntil": previous.keepUntil if previous and previous.hash else None,
        }
    )
    return linked.model_copy(update={"hash": entry_hash(linked)})


def pause_keep_until(head: PauseHead) -> str:
    """When retention may delete a pause's items (its TTL): its expiry plus its plan's retention."""
    return timeutil.iso(timeutil.parse(head.expiresAt) + timedelta(days=head.retentionDays))


def pause_chain_head(head: PauseHead) -> ChainHead:
    return ChainHead(hash=head.auditHash, keepUntil=pause_keep_until(head))


def _describe(entry: AuditEntry) -> str:
    return f"{entry.type} {entry.auditId} at {entry.at}"


def chain_order(entries: Iterable[AuditEntry]) -> list[AuditEntry]:
    """The entries in the order their links give (oldest first), whatever order they were read in:
    from each entry with no predecessor among them (oldest first), along its successors; entries
    left over (a fork) follow.  Clocks of different functions may disagree by a few ms, so the
    stored ``at`` is not the order."""
    ordered = sorted(entries, key=lambda e: (e.at, e.auditId))
    hashes = {e.hash for e in ordered}
    successors: dict[str | None, list[AuditEntry]] = defaultdict(list)
    for entry in ordered:
        successors[entry.prevHash].append(entry)
    roots = [e for e in ordered if e.prevHash not in hashes]
    roots.sort(key=lambda e: (e.prevHash != GENESIS, e.at, e.auditId))
    seen: set[str] = set()
    out: list[AuditEntry] = []
    for start in [*roots, *ordered]:
        current: AuditEntry | None = start
        while current is not None and current.auditId not in seen:
            seen.add(current.auditId)
            out.append(current)
            current = next((e for e in successors[current.hash] if e.auditId not in seen), None)
    return out


@dataclass(frozen=True)
class ChainReport:
    chain: str
    status: Literal["intact", "broken", "unchained"]
    entries: int
    problems: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        shown: dict[str, Any] = {"chain": self.chain, "status": self.status, "entries": self.entries}
        if self.problems:
            shown["problems"] = list(self.problems)
        return shown


def verify_chain(
    chain: str,
    entries: Sequence[AuditEntry],
    head: ChainHead | None,
    *,
    now: str,
    check_head: bool = True,
) -> ChainReport:
    """Whether a chain is intact: every entry's hash matches its content, every link leads to the
    entry before it (or to one retention may have deleted), and the head names the newest entry.
    ``head=None`` with ``check_head``: the chain's head item is missing.  Entries with no hash were
    written before chains existed: a chain of only those is ``unchained``."""
    hashed = [e for e in entries if e.hash is not None]
    unhashed = [e for e in entries if e.hash is None]
    problems: list[str] = []
    if not hashed and (not check_head or head is None or head.hash is None):
        return ChainReport(chain, "unchained" if unhashed else "intact", len(entries))
    ordered = chain_order(hashed)
    first_at = min(e.at for e in hashed) if hashed else None
    problems += [
        f"{_describe(e)} carries no hash, after entries that do" for e in unhashed if first_at and e.at > first_at
    ]
    known = {e.hash for e in ordered}
    for position, entry in enumerate(ordered):
        if entry_hash(entry) != entry.hash:
            problems.append(f"{_describe(entry)} was edited: its content does not match its hash")
        expected = ordered[position - 1].hash if position else GENESIS
        if entry.prevHash == expected:
            continue
        if entry.prevHash == GENESIS:
            problems.append(f"{_describe(entry)} starts a second chain")
        elif entry.prevHash in known:
            problems.append(f"{_describe(entry)} forks the chain: another entry follows the same predecessor")
        elif entry.prevKeepUntil is not None and entry.prevKeepUntil <= now:
            continue  # the entry before it was past retention: deleted by TTL, not by anyone
        else:
            problems.append(f"the chain is broken before {_describe(entry)}: the entry before it is missing or altered")
    if check_head:
        problems += _head_problems(ordered, known, head, now)
    return ChainReport(chain, "broken" if problems else "intact", len(entries), tuple(problems))


def _head_problems(ordered: list[AuditEntry], known: set[str | None], head: ChainHead | None, now: str) -> list[str]:
    newest = ordered[-1] if ordered else None
    if head is None:
        if newest is not None and not (newest.keepUntil and newest.keepUntil <= now):
            return [f"the chain's head is missing (its newest entry is {_describe(newest)})"]
        return []
    if head.hash is None:
        return ["the chain's head holds no hash, but its entries are chained"]
    if newest is not None and head.hash == newest.hash:
        return []
    if head.hash in known:
        after = next(e for e in ordered if e.hash == head.hash)
        return [f"entries after {_describe(after)} were not recorded through the chain's head"]
    if head.keepUntil and head.keepUntil <= now:
        return []  # the newest entries were past retention
    if newest is None:
        return ["every entry of the chain is missing"]
    return [f"the newest entries are missing: the head names an entry after {_describe(newest)}"]


def verify_export(lines: Iterable[str]) -> dict[str, Any]:
    """Check an exported JSON-lines file: its summary line (present, count, digest of the lines
    before it), and every chain in it (edits, gaps) as of the export's time.  A file cannot show
    a pause's newest entries deleted before the export: ``verify-audit TENANT`` checks the heads."""
    digest = hashlib.sha256()
    chains: dict[str, list[AuditEntry]] = defaultdict(list)
    summary: dict[str, Any] | None = None
    problems: list[str] = []
    count = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if summary is not None:
            problems.append(f"line {number} follows the summary line")
            break
        try:
            record = json.loads(line)
        except ValueError:
            problems.append(f"line {number} is not JSON")
            digest.update(line.encode())
            continue
        if isinstance(record, dict) and set(record) == {"summary"}:
            summary = record["summary"]
            continue
        digest.update(line.encode() if line.endswith("\n") else (line + "\n").encode())
        try:
            entry = AuditEntry.model_validate(record)
        except ValueError:
            problems.append(f"line {number} is not an audit entry")
            continue
        count += 1
        chains[entry.watchId or TEAM_CHAIN].append(entry)
    if summary is None:
        problems.append("the summary line is missing: the file is cut short")
        now = timeutil.iso(timeutil.now())
    else:
        now = str(summary.get("exportedAt") or timeutil.iso(timeutil.now()))
        if summary.get("entries") != count:
            problems.append(f"the summary counts {summary.get('entries')} entries; the file holds {count}")
        if summary.get("sha256") != digest.hexdigest():
            problems.append("the summary's sha256 does not match the lines before it")
    reports = [verify_chain(name, found, None, now=now, check_head=False) for name, found in chains.items()]
    return _report({"entries": count}, reports, problems)


def _report(base: dict[str, Any], reports: list[ChainReport], problems: Sequence[str] = ()) -> dict[str, Any]:
    broken = [r.to_json() for r in reports if r.status == "broken"]
    shown = {
        **base,
        "ok": not broken and not problems,
        "chains": len(reports),
        "intact": sum(r.status == "intact" for r in reports),
        "unchained": sum(r.status == "unchained" for r in reports),
        "broken": broken,
    }
    if problems:
        shown["problems"] = list(problems)
    return shown


# --- the port and the use case -----------------------------------------------------------------------


class AuditStore(Protocol):
    """The log's storage: every entry of a tenant by time, the team's chain and its head."""

    def list_entries(
        self,
        tenant_id: str,
        *,
        since: str | None,
        type_: str | None,
        pause_only: bool,
        oldest_first: bool,
        start: Position | None,
        page_size: int,
    ) -> ListPage[AuditEntry]: ...

    def team_chain_head(self, tenant_id: str) -> ChainHead | None: ...

    def append_team_entry(self, entry: AuditEntry, previous: ChainHead | None) -> None:
        """The entry and the new chain head, only if the head is still ``previous``
        (``TransactionRefused(["chainHead"])`` otherwise)."""
        ...

    def team_entries(self, tenant_id: str) -> list[AuditEntry]: ...


@dataclass(frozen=True)
class AuditPage:
    """A page of the log, newest first; ``next_cursor`` continues it (``None``: the last page).
    A page may hold fewer than ``limit`` entries when the plan or type filter skipped many."""

    entries: list[AuditEntry]
    next_cursor: str | None


def audit_view(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API shows it: no tenant, no null fields."""
    return {name: value for name, value in entry.to_json().items() if value is not None and name != "tenantId"}


@dataclass
class AuditLog:
    """The audit log's use cases; implements ``hitl.domain.ports.TeamAudit``."""

    store: AuditStore
    pauses: PauseRepository
    tenants: TenantRepository
    clock: Callable[[], datetime] = timeutil.now

    # --- recording --------------------------------------------------------------------

    def record_team_event(
        self,
        tenant_id: str,
        type_: str,
        *,
        actor: str,
        channel: Channel,
        ip: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> AuditEntry:
        """Append a team event to the tenant's team chain (retried while other events race it)."""
        if not is_team_event(type_):
            raise ValueError(f"not a team event type: {type_}")
        for _ in range(ATTEMPTS):
            previous = self.store.team_chain_head(tenant_id)
            now = self.clock()
            at = timeutil.iso(now)
            if previous and previous.at and previous.at > at:
                at = previous.at  # another function's clock ran ahead: never go back in time
            entry = AuditEntry(
                auditId=ids.new_audit_id(),
                tenantId=tenant_id,
                type=type_,
                at=at,
                actor=actor,
                channel=channel,
                ip=ip,
                details=details or {},
                keepUntil=timeutil.iso(timeutil.parse(at) + TEAM_KEEP),
            )
            entry = chained(entry, previous)
            try:
                self.store.append_team_entry(entry, previous)
            except TransactionRefused:
                continue
            return entry
        raise Conflict("The audit log kept changing; retry.", code="conflict")

    # --- reading ------------------------------------------------------------------------

    def list_audit(
        self, tenant_id: str, plan: PlanName, *, type_: str | None = None, cursor: str | None = None, limit: int = 50
    ) -> AuditPage:
        """A page of what ``plan`` shows of the log, newest first; ``type_`` is an exact type."""
        entries, next_cursor = self._page(tenant_id, plan, type_, cursor, limit, 0)
        return AuditPage(entries, next_cursor)

    def api_page(
        self,
        tenant_id: str,
        *,
        watch_id: str | None,
        type_: str | None,
        limit: int,
        offset: int,
        cursor_text: str | None,
    ) -> dict[str, Any]:
        """``GET /api/audit``: the plan is read fresh (a change counts at once)."""
        plan = self._plan(tenant_id)
        if offset > MAX_OFFSET:
            raise BadRequest(
                f"offset may be at most {MAX_OFFSET}; page further with cursor (nextCursor).",
                code="offset_too_large",
                details={"maxOffset": MAX_OFFSET},
            )
        if cursor_text and offset:
            raise BadRequest("Use either cursor or offset, not both.", code="invalid_query")
        if watch_id is not None:
            shown = self._of_pause(tenant_id, plan, watch_id, type_, cursor_text)
            items = [audit_view(e) for e in shown[offset : offset + limit]]
            return {"items": items, "limit": limit, "offset": offset, "nextCursor": None}
        entries, next_cursor = self._page(tenant_id, plan, type_, cursor_text, limit, offset)
        return {"items": [audit_view(e) for e in entries], "limit": limit, "offset": offset, "nextCursor": next_cursor}

    def _plan(self, tenant_id: str) -> PlanName:
        tenant = self.tenants.get_tenant(tenant_id)
        if tenant is None:
            raise Unauthorized("The API key is not valid.", code="invalid_api_key")
        return tenant.plan

    def _since(self, plan: PlanName) -> str:
        return timeutil.iso(self.clock() - timedelta(days=AUDIT_TIERS[plan].days))

    @staticmethod
    def _check_type(plan: PlanName, type_: str | None) -> None:
        if type_ and is_team_event(type_) and not AUDIT_TIERS[plan].team_events:
            raise PlanRequired(
                f"Team events ({type_}) are shown on the Pro plan; this team is on {plan}. "
                "They are recorded on every plan and appear once the team is on Pro.",
                details={"plan": plan, "requiredPlan": "pro"},
            )

    def _of_pause(
        self, tenant_id: str, plan: PlanName, watch_id: str, type_: str | None, cursor_text: str | None
    ) -> list[AuditEntry]:
        self._check_type(plan, type_)
        head = self.pauses.get_head(watch_id)
        if head is None or head.tenantId != tenant_id:
            raise not_found(watch_id)
        if cursor_text:
            raise BadRequest("The audit of one pause fits one page; omit cursor.", code="invalid_cursor")
        since = self._since(plan)
        return [e for e in self.pauses.audit_of_pause(watch_id) if e.at >= since and (not type_ or e.type == type_)]

    def _page(
        self, tenant_id: str, plan: PlanName, type_: str | None, cursor_text: str | None, limit: int, offset: int
    ) -> tuple[list[AuditEntry], str | None]:
        self._check_type(plan, type_)
        tier = AUDIT_TIERS[plan]
        since = self._since(plan)
        secret = self.pauses.cursor_secret()
        scope = f"audit:{tenant_id}:{type_ or ''}"
        start = cursor.decode(secret, scope, cursor_text) if cursor_text else None
        wanted = offset + limit
        kept: list[tuple[AuditEntry, Position]] = []
        more, reads = True, 0
        while len(kept) <= wanted and more and reads < MAX_PAGE_READS:
            try:
                page = self.store.list_entries(
                    tenant_id,
                    since=since,
                    type_=type_,
                    pause_only=not tier.team_events,
                    oldest_first=False,
                    start=start,
                    page_size=min(100, wanted + 1),
                )
            except InvalidPosition as wrong:
                raise BadRequest("The cursor is not valid for this list.", code="invalid_cursor") from wrong
            reads += 1
            kept += page.items
            start = page.next
            more = start is not None
        window = kept[offset:wanted]
        resume: Position | None = None
        if len(kept) > wanted and window:
            resume = window[-1][1]
        elif more and start is not None and len(kept) <= wanted:
            resume = start  # stopped reading early: continue where the reading stopped
        next_cursor = cursor.encode(secret, scope, resume) if resume else None
        return [entry for entry, _ in window], next_cursor

    # --- export ---------------------------------------------------------------------------

    def export(self, tenant_id: str, plan: PlanName, fmt: str) -> Iterator[str]:
        """The whole retained log, oldest first, as CSV rows or JSON lines (each a ``str`` ending
        in a newline), page by page.  JSON lines end with a summary line
        ``{"summary": {tenantId, exportedAt, entries, sha256}}`` (sha256 of every line before it).
        Pro only: other plans get ``PlanRequired`` (before anything is read)."""
        if not AUDIT_TIERS[plan].export:
            raise PlanRequired(
                f"Exporting the audit log is part of the Pro plan; this team is on {plan}.",
                details={"plan": plan, "requiredPlan": "pro"},
            )
        if fmt not in EXPORT_FORMATS:
            raise BadRequest("format must be csv or jsonl.", code="invalid_format", details={"allowed": EXPORT_FORMATS})
        return self._export_lines(tenant_id, fmt)

    def _all_entries(self, tenant_id: str) -> Iterator[AuditEntry]:
        start: Position | None = None
        while True:
            page = self.store.list_entries(
                tenant_id,
                since=None,
                type_=None,
                pause_only=False,
                oldest_first=True,
                start=start,
                page_size=EXPORT_PAGE,
            )
            for entry, _ in page.items:
                yield entry
            if page.next is None:
                return
            start = page.next

    def _export_lines(self, tenant_id: str, fmt: str) -> Iterator[str]:
        exported_at = timeutil.iso(self.clock())
        if fmt == "csv":
            yield _csv_row(CSV_COLUMNS)
            for entry in self._all_entries(tenant_id):
                shown = entry.to_json()
                shown["details"] = rules.canonical_json(entry.details)
                yield _csv_row(["" if shown.get(c) is None else str(shown[c]) for c in CSV_COLUMNS])
            return
        digest = hashlib.sha256()
        count = 0
        for entry in self._all_entries(tenant_id):
            line = rules.canonical_json({k: v for k, v in entry.to_json().items() if v is not None}) + "\n"
            digest.update(line.encode())
            count += 1
            yield line
        summary = {"tenantId": tenant_id, "exportedAt": exported_at, "entries": count, "sha256": digest.hexdigest()}
        yield json.dumps({"summary": summary}, separators=(",", ":")) + "\n"

    # --- verification ---------------------------------------------------------------------

    def verify(self, tenant_id: str) -> dict[str, Any]:
        """Every chain of the tenant, against its head: the team's, and each pause's (found in
        the log and in the tenant's pause list, so a pause whose entries are all gone is seen)."""
        now = timeutil.iso(self.clock())
        watch_ids: dict[str, None] = {}
        for entry in self._all_entries(tenant_id):
            if entry.watchId:
                watch_ids[entry.watchId] = None
        start: Position | None = None
        while True:
            page = self.pauses.list_pauses(tenant_id, [], start, 100)
            watch_ids.update({head.watchId: None for head, _ in page.items})
            if page.next is None:
                break
            start = page.next
        reports = [self._verify_pause(watch_id, now) for watch_id in watch_ids]
        reports.append(self._verify_team(tenant_id, now))
        entries = sum(r.entries for r in reports)
        return _report({"tenantId": tenant_id, "entries": entries}, reports)

    def _verify_pause(self, watch_id: str, now: str) -> ChainReport:
        report = ChainReport(watch_id, "intact", 0)
        for _ in range(2):  # once more when a transition raced the reading
            head = self.pauses.get_head(watch_id)
            entries = self.pauses.audit_of_pause(watch_id)
            report = verify_chain(watch_id, entries, pause_chain_head(head) if head else None, now=now)
            if report.status != "broken":
                return report
        return report

    def _verify_team(self, tenant_id: str, now: str) -> ChainReport:
        report = ChainReport(TEAM_CHAIN, "intact", 0)
        for _ in range(2):
            entries = self.store.team_entries(tenant_id)
            head = self.store.team_chain_head(tenant_id)
            if head is None and not entries:
                return report
            report = verify_chain(TEAM_CHAIN, entries, head, now=now)
            if report.status != "broken":
                return report
        return report


#: a cell a spreadsheet would run as a formula starts with one of these: it gets a leading "'"
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_row(values: Sequence[str]) -> str:
    out = io.StringIO()
    cells = ["'" + v if v.startswith(FORMULA_STARTS) else v for v in values]
    csv.writer(out, lineterminator="\n").writerow(cells)
    return out.getvalue()


__all__ = [
    "AUDIT_TIERS",
    "GENESIS",
    "TEAM_CHAIN",
    "AuditLog",
    "AuditPage",
    "AuditStore",
    "AuditTier",
    "ChainHead",
    "ChainReport",
    "audit_view",
    "chain_order",
    "chained",
    "entry_hash",
    "pause_chain_head",
    "pause_keep_until",
    "verify_chain",
    "verify_export",
]
