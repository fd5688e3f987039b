"""Lambda-like function instances: warm worker processes, one event at a time each.

Per function, a pool of worker processes ("spawn": a fresh interpreter, as a Lambda
instance is) that import the handler module once, with the function's asset folder first on
``sys.path`` as Lambda's ``/var/task`` is (the layers come from the venv).  A request takes
an idle worker, or starts one while fewer than ``local_max`` run, or waits for one.  A
worker that overruns the function's timeout is killed and replaced.  Events and results
cross the pipe as JSON text, as they cross Lambda's runtime API.

This module is imported by every worker: it must stay light (no moto, no werkzeug).
"""

from __future__ import annotations

import contextlib
import enum
import importlib
import json
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
import uuid
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from hitl import wiring
from hitl_local.apigw import LambdaContext

log = logging.getLogger("hitl_local.workers")

REPO_ROOT = Path(__file__).resolve().parents[2]
#: how long a new instance may take to import its handler (Lambda's init phase)
INIT_TIMEOUT_S = 60.0
#: how long an idle worker gets to exit when asked before it is killed
STOP_GRACE_S = 0.5
_CONTEXT = multiprocessing.get_context("spawn")


class Outcome(enum.Enum):
    OK = "ok"
    #: the handler raised, its instance crashed, or it failed to start
    ERROR = "error"
    #: the handler ran past the function's timeout; its instance was killed
    FUNCTION_TIMEOUT = "function_timeout"
    #: the caller's own deadline passed first (API Gateway's 30 s)
    CALLER_TIMEOUT = "caller_timeout"


@dataclass(frozen=True)
class Invocation:
    outcome: Outcome
    #: what the handler returned (decoded from JSON) when ``outcome`` is OK
    result: Any = None
    #: ``{"errorType", "errorMessage"}`` otherwise
    error: dict[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


class PoolClosed(RuntimeError):
    pass


@dataclass(frozen=True)
class WorkerSpec:
    """Everything a worker process needs, pickled across to it."""

    function_name: str
    asset_dir: str
    handler: str
    memory_mb: int
    timeout_s: int
    environment: dict[str, str]
    #: variables to remove from the inherited environment (a developer's AWS profile, …)
    unset: tuple[str, ...] = ()
    parent_pid: int = field(default_factory=os.getpid)


def spec_for(function: wiring.Function, environment: Mapping[str, str], root: Path = REPO_ROOT) -> WorkerSpec:
    return WorkerSpec(
        function_name=function.name,
        asset_dir=str(root / function.asset),
        handler=function.handler,
        memory_mb=function.memory_mb,
        timeout_s=function.timeout_s,
        environment=dict(environment),
        unset=("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_DEFAULT_PROFILE"),
    )


# --- inside the worker process ---------------------------------------------------------


def _worker_main(conn: Connection, spec: WorkerSpec) -> None:  # pragma: no cover - runs in a child
    # Ctrl-C reaches the whole process group: the parent decides when workers stop
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent(spec.parent_pid)
    for name in spec.unset:
        os.environ.pop(name, None)
    os.environ.update(spec.environment)
    if os.environ.get(wiring.ENV_METRICS_DISABLED) == "true":
        # metrics are off on the local stack: a function that adds none is not news
        warnings.filterwarnings("ignore", message="No application metrics to publish")
    sys.path.insert(0, spec.asset_dir)
    module_name, _, attribute = spec.handler.rpartition(".")
    try:
        handler = getattr(importlib.import_module(module_name), attribute)
    except BaseException as error:
        traceback.print_exc()
        conn.send(("init_error", _error_of(error, "Runtime.ImportModuleError")))
        return
    conn.send(("ready", os.getpid()))
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        request_id, event_text = message
        context = LambdaContext(
            function_name=spec.function_name,
            memory_limit_in_mb=spec.memory_mb,
            timeout_s=spec.timeout_s,
            aws_request_id=request_id,
            _deadline=time.monotonic() + spec.timeout_s,
        )
        answer: tuple[str, Any]
        try:
            answer = ("ok", json.dumps(handler(json.loads(event_text), context)))
        except Exception as error:
            traceback.print_exc()
            answer = ("error", _error_of(error))
        sys.stdout.flush()
        try:
            conn.send(answer)
        except (EOFError, OSError):
            return


def _error_of(error: BaseException, kind: str | None = None) -> dict[str, str]:
    return {"errorType": kind or type(error).__name__, "errorMessage": str(error)}


def _exit_with_parent(parent_pid: int) -> None:  # pragma: no cover - runs in a child
    """Never outlive the local stack, even when it is killed without a chance to clean up."""

    def watch() -> None:
        while True:
            time.sleep(1)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


# --- in the local stack ------------------------------------------------------------------


class Worker:
    """One function instance: a process and the parent's end of its pipe."""

    def __init__(self, spec: WorkerSpec, number: int) -> None:
        self.spec = spec
        self.conn, child = _CONTEXT.Pipe()
        self.process = _CONTEXT.Process(
            target=_worker_main, args=(child, spec), name=f"hitl-{spec.function_name}-{number}", daemon=True
        )
        self.process.start()
        child.close()
        self.pid: int | None = None
        self._lock = threading.Lock()
        self._dead = False

    def wait_ready(self, timeout_s: float) -> None:
        """Block until the handler is imported; raise ``WorkerFailed`` if it cannot be."""
        if not self.conn.poll(timeout_s):
            self.kill()
            raise WorkerFailed(
                {"errorType": "Runtime.InitTimeout", "errorMessage": "the handler took too long to import"}
            )
        try:
            kind, payload = self.conn.recv()
        except (EOFError, OSError) as error:
            self.kill()
            raise WorkerFailed({"errorType": "Runtime.ExitError", "errorMessage": "the instance exited"}) from error
        if kind != "ready":
            self.kill()
            raise WorkerFailed(payload)
        self.pid = payload

    def invoke(self, event: Any, timeout_s: float) -> tuple[str, Any] | None:
        """``("ok", result_text)`` or ``("error", error)``; ``None`` when ``timeout_s`` passed first."""
        self.conn.send((str(uuid.uuid4()), json.dumps(event)))
        if not self.conn.poll(max(0.0, timeout_s)):
            return None
        answer: tuple[str, Any] = self.conn.recv()
        return answer

    def stop(self, grace_s: float = STOP_GRACE_S) -> None:
        with contextlib.suppress(OSError, ValueError):
            self.conn.send(None)
        self.process.join(grace_s)
        self.kill()

    def end_process(self) -> None:
        """Kill the process only: the thread waiting on its pipe sees it end, and cleans up."""
        if self.process.is_alive():
            self.process.kill()

    def kill(self) -> None:
        """Kill the process and close the pipe, once, whichever thread gets here first."""
        with self._lock:
            if self._dead:
                return
            self._dead = True
        self.end_process()
        self.process.join(5)
        self.conn.close()


class WorkerFailed(Exception):
    def __init__(self, error: dict[str, str]) -> None:
        super().__init__(error.get("errorMessage", ""))
        self.error = error


class WorkerPool:
    """The instances of one function: ``local_warm`` started before serving, at most ``local_max``."""

    def __init__(self, function: wiring.Function, spec: WorkerSpec) -> None:
        self.function = function
        self.spec = spec
        self._cond = threading.Condition()
        self._idle: list[Worker] = []
        self._all: set[Worker] = set()
        #: workers alive or starting (so at most ``local_max``)
        self._count = 0
        self._numbers = iter(range(1, 1_000_000))
        self._closed = False

    # -- sizes, for /_local/health and tests
    @property
    def size(self) -> int:
        with self._cond:
            return self._count

    @property
    def idle(self) -> int:
        with self._cond:
            return len(self._idle)

    def pids(self) -> list[int]:
        with self._cond:
            return sorted(w.process.pid for w in self._all if w.process.pid is not None)

    def start_warm(self) -> list[threading.Thread]:
        """Start the warm instances in the background; join the threads to wait for them."""
        threads = [
            threading.Thread(target=self._add_idle, name=f"warm-{self.function.name}", daemon=True)
            for _ in range(max(0, min(self.function.local_warm, self.function.local_max) - self.size))
        ]
        with self._cond:
            self._count += len(threads)
        for thread in threads:
            thread.start()
        return threads

    def _add_idle(self) -> None:
        """Start one instance whose slot is already counted, and park it idle."""
        try:
            worker = self._spawn()
        except WorkerFailed as failed:
            if not self._closed:
                log.error("%s: an instance failed to start: %s", self.function.name, failed.error)
            self._forget(None)
            return
        self._release(worker)

    def _spawn(self) -> Worker:
        worker = Worker(self.spec, next(self._numbers))
        with self._cond:
            self._all.add(worker)
        try:
            worker.wait_ready(INIT_TIMEOUT_S)
        except WorkerFailed:
            with self._cond:
                self._all.discard(worker)
            raise
        return worker

    def _acquire(self, until: float | None) -> Worker | None:
        """An idle instance, a new one if there is room, else wait; ``None`` once ``until`` passes."""
        with self._cond:
            while True:
                if self._closed:
                    raise PoolClosed(self.function.name)
                if self._idle:
                    return self._idle.pop()  # the most recently used: the warmest
                if self._count < self.function.local_max:
                    self._count += 1
                    break
                remaining = None if until is None else until - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._cond.wait(remaining)
        try:
            return self._spawn()
        except WorkerFailed:
            self._forget(None)
            if self._closed:
                raise PoolClosed(self.function.name) from None
            raise

    def _release(self, worker: Worker) -> None:
        with self._cond:
            if not self._closed:
                self._idle.append(worker)
                self._cond.notify()
                return
        self._forget(worker)

    def _forget(self, worker: Worker | None) -> None:
        """Kill an instance (or give back a slot that never got one) and keep the warm count."""
        if worker is not None:
            worker.kill()
        with self._cond:
            if worker is not None:
                self._all.discard(worker)
            self._count -= 1
            self._cond.notify()
            refill = not self._closed and self._count < self.function.local_warm
            if refill:
                self._count += 1
        if refill:
            threading.Thread(target=self._add_idle, name=f"refill-{self.function.name}", daemon=True).start()

    def invoke(self, event: Any, until: float | None = None) -> Invocation:
        """Run ``event`` on one instance.  ``until`` (a ``time.monotonic()`` deadline) is the
        caller's patience: for API Gateway, 30 s from the request, waiting for an instance
        included.  ``None``: wait for an instance as long as it takes (event source mappings)."""
        try:
            worker = self._acquire(until)
        except WorkerFailed as failed:
            return Invocation(Outcome.ERROR, error=failed.error)
        if worker is None:
            return Invocation(Outcome.CALLER_TIMEOUT)
        if until is not None and until <= time.monotonic():
            self._release(worker)
            return Invocation(Outcome.CALLER_TIMEOUT)
        timeout_s = float(self.function.timeout_s)
        caller_first = until is not None and until - time.monotonic() < timeout_s
        if until is not None:
            timeout_s = min(timeout_s, until - time.monotonic())
        try:
            answer = worker.invoke(event, timeout_s)
        except (EOFError, OSError, ValueError):
            answer = ("crash", None)
        if answer is None:
            log.warning("%s: timed out, instance %s killed", self.function.name, worker.pid)
            self._forget(worker)
            if caller_first:
                return Invocation(Outcome.CALLER_TIMEOUT)
            message = f"Task timed out after {self.function.timeout_s:.2f} seconds"
            return Invocation(
                Outcome.FUNCTION_TIMEOUT, error={"errorType": "Sandbox.Timedout", "errorMessage": message}
            )
        kind, payload = answer
        if kind == "crash":
            if self._closed:
                self._forget(worker)
                raise PoolClosed(self.function.name)
            log.error("%s: instance %s exited during an invocation", self.function.name, worker.pid)
            self._forget(worker)
            return Invocation(Outcome.ERROR, error={"errorType": "Runtime.ExitError", "errorMessage": "exited"})
        self._release(worker)
        if kind == "ok":
            return Invocation(Outcome.OK, result=json.loads(payload))
        return Invocation(Outcome.ERROR, error=payload)

    def close(self) -> None:
        """Stop every instance: idle ones are asked to exit, busy ones are killed."""
        with self._cond:
            self._closed = True
            idle, self._idle = self._idle, []
            busy = [w for w in self._all if w not in idle]
            self._cond.notify_all()
        stoppers = [threading.Thread(target=w.stop, daemon=True) for w in idle]
        for thread in stoppers:
            thread.start()
        for worker in busy:
            worker.end_process()  # its caller's thread sees the pipe close and forgets it
        for thread in stoppers:
            thread.join()
        with self._cond:
            self._all.clear()


class Pools:
    """One pool per function of the wiring."""

    def __init__(
        self, functions: tuple[wiring.Function, ...], environment: Callable[[wiring.Function], dict[str, str]]
    ):
        self.pools = {f.name: WorkerPool(f, spec_for(f, environment(f))) for f in functions}

    def __getitem__(self, name: str) -> WorkerPool:
        return self.pools[name]

    def start_warm(self) -> None:
        threads = [thread for pool in self.pools.values() for thread in pool.start_warm()]
        for thread in threads:
            thread.join()

    def close(self) -> None:
        closers = [threading.Thread(target=pool.close, daemon=True) for pool in self.pools.values()]
        for thread in closers:
            thread.start()
        for thread in closers:
            thread.join()

    def sizes(self) -> dict[str, dict[str, Any]]:
        return {
            name: {"instances": pool.size, "idle": pool.idle, "pids": pool.pids()} for name, pool in self.pools.items()
        }
