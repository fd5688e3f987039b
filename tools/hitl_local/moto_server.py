"""moto in server mode, in this process, with DynamoDB requests serialized.

moto's server does not promise atomicity under concurrency (two racing conditional writes
can both win); DynamoDB does, per item.  One lock around moto's DynamoDB requests restores
that guarantee.  Nothing else is serialized: an SQS receive that waits must not hold it.

moto keeps its KMS keys in memory, under random ids; ciphertexts name their key's id.  So that
secrets encrypted in one run still decrypt in the next (the table is restored from the state
directory), ``export_kms_key`` reads a key's id and material out of moto's in-process backend
(the server runs in this process) and ``import_kms_key`` puts the same key back under the same id.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from moto.core import DEFAULT_ACCOUNT_ID
from moto.core.botocore_stubber import BotocoreStubber
from moto.kms.models import kms_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from hitl_local.state import SavedKey

REGION = "us-east-1"
#: what every client of the local stack authenticates with (moto checks nothing)
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def is_dynamodb_request(target: str | None) -> bool:
    """Whether a request with this ``X-Amz-Target`` header is a DynamoDB call."""
    return (target or "").startswith("DynamoDB_")


class SerializeDynamoDB:
    """WSGI middleware: one DynamoDB request at a time (``X-Amz-Target: DynamoDB_…``)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not is_dynamodb_request(environ.get("HTTP_X_AMZ_TARGET")):
            return self.app(environ, start_response)
        with self.lock:
            # the whole answer is produced under the lock, not just the call that starts it
            answer = self.app(environ, start_response)
            try:
                return [b"".join(answer)]
            finally:
                close = getattr(answer, "close", None)
                if close:
                    close()


class _QuietHandler(MotoRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass


class MotoServer:
    """A threaded werkzeug server running moto's app on a free 127.0.0.1 port."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self.app = SerializeDynamoDB(DomainDispatcherApplication(create_backend_app))
        self._server: BaseWSGIServer = make_server(host, port, self.app, threaded=True, request_handler=_QuietHandler)
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.1), name="moto", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://{self._host}:{self._server.server_port}"

    def start(self) -> MotoServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(timeout=5)
        self._server.server_close()

    def session(self) -> EndpointSession:
        return EndpointSession(self.url)

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


class EndpointSession(boto3.session.Session):
    """A session whose clients all talk to one endpoint (what ``resources.create`` is given)."""

    def __init__(self, endpoint_url: str) -> None:
        super().__init__(
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
            region_name=REGION,
        )
        self.endpoint_url = endpoint_url

    def client(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        kwargs.setdefault("endpoint_url", self.endpoint_url)
        return super().client(*args, **kwargs)


@contextmanager
def serialized_in_process_dynamodb() -> Iterator[None]:
    """The same guarantee for moto in-process (``mock_aws``), which is no more atomic across
    threads than the server: one DynamoDB request at a time, nothing else serialized."""
    lock = threading.Lock()
    original = BotocoreStubber.process_request

    def process_request(self: BotocoreStubber, request: Any) -> Any:
        target = request.headers.get("X-Amz-Target")
        if not is_dynamodb_request(target.decode() if isinstance(target, bytes) else target):
            return original(self, request)
        with lock:
            return original(self, request)

    BotocoreStubber.process_request = process_request  # type: ignore[method-assign]
    try:
        yield
    finally:
        BotocoreStubber.process_request = original  # type: ignore[method-assign]


# --- KMS keys that outlive the process ------------------------------------------------------


def export_kms_key(key_id: str, region: str = REGION) -> SavedKey:
    """The id and material of a key of moto's in-process backend (``KeyError``: no such key)."""
    key = kms_backends[DEFAULT_ACCOUNT_ID][region].keys[key_id]
    return SavedKey(key.id, bytes(key.key_material), key.description, float(key.creation_date))


def import_kms_key(saved: SavedKey, region: str = REGION) -> str:
    """Put ``saved`` back into moto's in-process backend under its own id (replacing a key of that
    id): what it encrypted decrypts again.  Its id."""
    backend = kms_backends[DEFAULT_ACCOUNT_ID][region]
    # made through the backend, so that every attribute moto reads exists; then given its identity
    key = backend.create_key(
        policy=None, key_usage="ENCRYPT_DECRYPT", key_spec="SYMMETRIC_DEFAULT", description=saved.description, tags=None
    )
    del backend.keys[key.id]
    key.id = saved.key_id
    key.arn = key.arn.rsplit("/", 1)[0] + "/" + saved.key_id
    key.key_material = saved.material
    key.creation_date = saved.created
    backend.keys[key.id] = key
    return key.id
