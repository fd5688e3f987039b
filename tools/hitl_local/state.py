"""What the local stack keeps across restarts, in its state directory (``.hitl`` by default).

Every file here is written atomically (a temporary file renamed over it) and readable by its
owner only (mode 0600, from its first byte): the table holds the cursor secret and API key
hashes, ``local.json`` an API key, ``kms.json`` key material.

* ``dynamodb.json``: every item of the table, dumped on a clean stop and restored before
  serving, so the tenant, its key and old pauses survive a restart of ``make dev``;
* ``sqs.json``: every message of every queue at the stop — queued emails and webhook deliveries,
  retries waiting for their time, messages a function was working on — put back before the
  pollers start (``saved_messages``), so nothing in flight is lost;
* ``outbox.json``: every email SES accepted (the local outbox, ``/_local/outbox``);
* ``local.json``: what a developer (or ``hitl-admin --local``, or a test) needs to talk to
  the running stack: its URL, the ``local`` tenant's API key, the AWS endpoint, …
* ``kms.json``: the KMS key that encrypts webhook and callback secrets (its id and material,
  readable by the owner only), written when the key is made and put back into moto on every
  start, so that the secrets in a restored table still decrypt.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from hitl import ids, timeutil
from hitl.adapters.dynamo import DynamoStore
from hitl.adapters.tenant_repository import DynamoTenants
from hitl.domain.models import PlanName, SlackWorkspace
from hitl.domain.ports import SecretCipher
from hitl.domain.tenants import TenantAdmin

DUMP_FILE = "dynamodb.json"
QUEUES_FILE = "sqs.json"
OUTBOX_FILE = "outbox.json"
CONFIG_FILE = "local.json"
LOCK_FILE = "lock"
KMS_FILE = "kms.json"
LOCAL_TENANT = "local"
LOCAL_PLAN: PlanName = "pro"
DEFAULT_APPROVER = "approver@example.com"
BATCH = 25


@dataclass(frozen=True)
class LocalConfig:
    """``local.json``: the running stack, as a client sees it."""

    apiUrl: str
    apiKey: str
    tenantId: str
    approverEmail: str
    outboxUrl: str  # no dashboardUrl until the stack serves a dashboard (Step 5)
    awsEndpoint: str
    tableName: str
    eventBusName: str
    #: the fake Slack's page (``/_local/slack``), and the secret its clicks are signed with
    slackUrl: str = ""
    slackSigningSecret: str = ""


#: every file of the state directory: its owner's only
FILE_MODE = 0o600
DIR_MODE = 0o700


def make_state_dir(state_dir: Path) -> None:
    """The state directory (its owner's only when made here; an existing one is left as it is)."""
    state_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)


def write_json(path: Path, value: Any) -> None:
    """Write atomically (a reader never sees half a file, a crash never leaves one), readable and
    writable by the owner only from the first byte written."""
    make_state_dir(path.parent)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)  # a leftover of a crash keeps its own mode: never reuse it
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    try:
        os.fchmod(descriptor, FILE_MODE)  # whatever the umask
        with os.fdopen(descriptor, "w") as handle:
            handle.write(json.dumps(value, indent=2) + "\n")
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    temporary.replace(path)


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


class StateInUse(Exception):
    pass


class StateLock:
    """One local stack per state directory: two would overwrite each other's saved table."""

    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        make_state_dir(self.path.parent)
        descriptor = os.open(self.path, os.O_RDWR | os.O_CREAT, FILE_MODE)
        os.fchmod(descriptor, FILE_MODE)
        handle = os.fdopen(descriptor, "a+")
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise StateInUse(f"another local stack (pid {holder}) is using {self.path.parent}") from error
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # closing drops the lock
            self._file = None


# --- the table, dumped and restored ------------------------------------------------------


def _encode(value: Any) -> Any:
    """A raw DynamoDB attribute value as JSON (binary as base64)."""
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, bytes | bytearray):
        return {"__b64__": base64.b64encode(bytes(value)).decode()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def scan(dynamodb: Any, table: str) -> Iterator[dict[str, Any]]:
    """Every item of ``table``, raw (a consistent Scan, page after page)."""
    for page in dynamodb.get_paginator("scan").paginate(TableName=table, ConsistentRead=True):
        yield from page.get("Items", [])


def dump(dynamodb: Any, table: str, state_dir: Path) -> int:
    """Write every item to ``dynamodb.json``; the number of items."""
    items = [_encode(item) for item in scan(dynamodb, table)]
    write_json(state_dir / DUMP_FILE, {"version": 1, "items": items})
    return len(items)


def restore(dynamodb: Any, table: str, state_dir: Path) -> int:
    """Put back the items of ``dynamodb.json`` (if any); the number of items."""
    saved = read_json(state_dir / DUMP_FILE)
    if not isinstance(saved, dict) or not isinstance(saved.get("items"), list):
        return 0
    items = [_decode(item) for item in saved["items"]]
    for start in range(0, len(items), BATCH):
        requests: dict[str, Any] = {table: [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH]]}
        while requests:
            answer = dynamodb.batch_write_item(RequestItems=requests)
            requests = answer.get("UnprocessedItems") or {}
    return len(items)


# --- the queues' messages and the outbox (made and put back by ``saved_messages``) ---------


def save_messages(state_dir: Path, queues: Any, outbox: Any) -> None:
    write_json(state_dir / QUEUES_FILE, queues)
    write_json(state_dir / OUTBOX_FILE, outbox)


def load_messages(state_dir: Path) -> tuple[Any, Any]:
    """(the saved queues, the saved outbox); ``None`` for what was never saved or is unreadable."""
    return read_json(state_dir / QUEUES_FILE), read_json(state_dir / OUTBOX_FILE)


# --- the KMS key ---------------------------------------------------------------------------


class StateCorrupt(Exception):
    pass


@dataclass(frozen=True)
class SavedKey:
    """A symmetric KMS key as moto holds it: what re-creates it, ciphertexts and all."""

    key_id: str
    material: bytes
    description: str
    created: float


def save_kms_key(state_dir: Path, key: SavedKey) -> Path:
    path = state_dir / KMS_FILE
    write_json(
        path,
        {
            "version": 1,
            "keyId": key.key_id,
            "keyMaterial": base64.b64encode(key.material).decode(),
            "description": key.description,
            "createdAt": key.created,
        },
    )
    return path


def load_kms_key(state_dir: Path) -> SavedKey | None:
    """The saved key, ``None`` if there is none; ``StateCorrupt`` if the file is unreadable (a new
    key would leave every secret of the saved table undecryptable: never made silently)."""
    path = state_dir / KMS_FILE
    if not path.exists():
        return None
    saved = read_json(path)
    try:
        return SavedKey(
            key_id=str(saved["keyId"]),
            material=base64.b64decode(saved["keyMaterial"], validate=True),
            description=str(saved.get("description", "")),
            created=float(saved.get("createdAt", 0)),
        )
    except (TypeError, KeyError, ValueError) as error:
        raise StateCorrupt(
            f"{path} is unreadable: the webhook secrets of the saved table cannot be decrypted without it "
            f"(remove {state_dir} to start afresh)"
        ) from error


# --- the local tenant ---------------------------------------------------------------------


@dataclass(frozen=True)
class LocalTenant:
    tenantId: str
    apiKey: str
    approverEmail: str


def ensure_local_tenant(admin: TenantAdmin, approver_email: str, previous: dict[str, Any] | None) -> LocalTenant:
    """Tenant ``local`` (plan pro) whose approver is its owner (confirmed), created or kept, and
    an API key: the one of the previous ``local.json`` while it still works, else a new one.  A
    table saved before roles existed gets its approver made the owner (when the team has none)
    and its members findable by email."""
    store = admin.store
    found = store.find_tenants(LOCAL_TENANT)
    if not found:
        created = admin.create_tenant(LOCAL_TENANT, LOCAL_PLAN, [approver_email])  # the first is the owner
        return LocalTenant(created["tenantId"], created["apiKey"], approver_email)
    tenant = found[0]
    email = approver_email.strip().lower()
    members = {m.email: m for m in store.approvers(tenant.tenantId)}
    has_owner = any(m.role == "owner" and m.status == "confirmed" for m in members.values())
    if email not in members or members[email].status != "confirmed" or not has_owner:
        admin.add_approver(tenant.tenantId, email, None if has_owner else "owner")  # added confirmed
    store.upgrade_members(tenant.tenantId)
    key = (previous or {}).get("apiKey")
    if (
        (previous or {}).get("tenantId") == tenant.tenantId
        and isinstance(key, str)
        and _works(store, key, tenant.tenantId)
    ):
        return LocalTenant(tenant.tenantId, key, approver_email)
    created_key = admin.create_key(tenant.tenantId, "local")
    return LocalTenant(tenant.tenantId, created_key["apiKey"], approver_email)


def ensure_local_slack(store: DynamoStore, tokens: SecretCipher, tenant: LocalTenant) -> bool:
    """The local tenant's Slack: the fake workspace (``hitl_local.slack_fake``) connected, its owner
    linked to their fake Slack user, when no workspace is connected; whether it connected it."""
    from hitl_local import slack_fake

    if store.slack.get(tenant.tenantId) is not None:
        return False
    store.slack.connect(
        SlackWorkspace(
            tenantId=tenant.tenantId,
            teamId=slack_fake.TEAM_ID,
            teamName=slack_fake.TEAM_NAME,
            botUserId=slack_fake.BOT_USER_ID,
            botTokenCipher=tokens.encrypt(tenant.tenantId, slack_fake.BOT_TOKEN),
            connectedAt=timeutil.iso(timeutil.now()),
            connectedBy=tenant.approverEmail,
            via="token",
        )
    )
    email = tenant.approverEmail.strip().lower()
    member = store.tenants.member(tenant.tenantId, email)
    if member is not None and not member.slackUserId:
        store.tenants.set_slack_user(tenant.tenantId, email, slack_fake.user_id(email))
    return True


def _works(store: DynamoTenants, key: str, tenant_id: str) -> bool:
    if not ids.is_well_formed_key(key):
        return False
    record = store.get_api_key(ids.sha256_hex(key))
    return record is not None and record.tenantId == tenant_id and not record.revoked


def write_config(state_dir: Path, config: LocalConfig) -> Path:
    path = state_dir / CONFIG_FILE
    write_json(path, asdict(config))
    return path


def read_config(state_dir: Path) -> dict[str, Any] | None:
    found = read_json(state_dir / CONFIG_FILE)
    return found if isinstance(found, dict) else None
