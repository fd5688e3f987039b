"""What the local stack keeps across restarts, in its state directory (``.hitl`` by default).

* ``dynamodb.json``: every item of the table, dumped on a clean stop and restored before
  serving, so the tenant, its key and old pauses survive a restart of ``make dev``;
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
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from hitl import ids
from hitl.adapters.dynamo import DynamoStore
from hitl.domain.models import PlanName
from hitl.domain.tenants import TenantAdmin

DUMP_FILE = "dynamodb.json"
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


def write_json(path: Path, value: Any, *, private: bool = False) -> None:
    """Write atomically: a reader never sees half a file, a crash never leaves one.  ``private``:
    readable and writable by the owner only (from the first byte written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o666)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(json.dumps(value, indent=2) + "\n")
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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
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


def dump(store: DynamoStore, state_dir: Path) -> int:
    """Write every item to ``dynamodb.json``; the number of items."""
    items = [_encode(item) for item in store.scan_all()]
    write_json(state_dir / DUMP_FILE, {"version": 1, "items": items})
    return len(items)


def restore(store: DynamoStore, state_dir: Path) -> int:
    """Put back the items of ``dynamodb.json`` (if any); the number of items."""
    saved = read_json(state_dir / DUMP_FILE)
    if not isinstance(saved, dict) or not isinstance(saved.get("items"), list):
        return 0
    items = [_decode(item) for item in saved["items"]]
    for start in range(0, len(items), BATCH):
        requests: dict[str, Any] = {
            store.table: [{"PutRequest": {"Item": item}} for item in items[start : start + BATCH]]
        }
        while requests:
            answer = store.client.batch_write_item(RequestItems=requests)
            requests = answer.get("UnprocessedItems") or {}
    return len(items)


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
        private=True,
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
    """Tenant ``local`` (plan pro) with a confirmed approver, created or kept, and an API key:
    the one of the previous ``local.json`` while it still works, else a new one."""
    store = admin.store
    found = store.find_tenants(LOCAL_TENANT)
    if not found:
        created = admin.create_tenant(LOCAL_TENANT, LOCAL_PLAN, [approver_email])
        return LocalTenant(created["tenantId"], created["apiKey"], approver_email)
    tenant = found[0]
    if approver_email.strip().lower() not in {a.email for a in store.approvers(tenant.tenantId)}:
        admin.add_approver(tenant.tenantId, approver_email)  # added confirmed
    key = (previous or {}).get("apiKey")
    if (
        (previous or {}).get("tenantId") == tenant.tenantId
        and isinstance(key, str)
        and _works(store, key, tenant.tenantId)
    ):
        return LocalTenant(tenant.tenantId, key, approver_email)
    created_key = admin.create_key(tenant.tenantId, "local")
    return LocalTenant(tenant.tenantId, created_key["apiKey"], approver_email)


def _works(store: DynamoStore, key: str, tenant_id: str) -> bool:
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
