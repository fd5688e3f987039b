"""The local stack (``python -m hitl_local``) started once for the session, driven over HTTP.

It runs as a subprocess on a free port with a temporary state directory and a 1 s sweep;
the tests see it only as a user would: HTTP, ``local.json`` and ``hitl-admin --local``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.client import Client, over_http

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 90  # two stacks start at once under xdist, on a busy machine
STOP_TIMEOUT_S = 20
STACK_TAIL_LINES = 60


def Http(base_url: str, key: str | None = None, timeout_s: float = 35) -> Client:
    """The shared test client, over HTTP to ``base_url``, as agent ``key``."""
    return Client(over_http(timeout_s), base_url, key)


@dataclass
class Stack:
    """The running local stack, as its user sees it."""

    config: dict[str, Any]
    state_dir: Path
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return str(self.config["apiUrl"])

    def http(self, key: str | None = None) -> Client:
        return Http(self.url, key)

    def stop(self) -> None:
        stop_stack(self)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        answer = self.http().get("/_local/events.json")
        assert answer.status == 200, answer.body
        events: list[dict[str, Any]] = answer.json()
        return events

    def admin(self, *args: str) -> dict[str, Any]:
        """``hitl-admin --local …`` against this stack; its JSON output."""
        script = Path(sys.executable).with_name("hitl-admin")
        done = subprocess.run(
            [str(script), "--local", *args],
            env={**self.env, "HITL_STATE_DIR": str(self.state_dir)},
            cwd=self.state_dir.parent,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, f"hitl-admin {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        result: dict[str, Any] = json.loads(done.stdout)
        return result


def _health(url: str) -> bool:
    try:
        return Http(url, timeout_s=2).get("/_local/health").status == 200
    except OSError:
        return False


def start_stack(state_dir: Path, log_path: Path, **settings: str) -> Stack:
    """``python -m hitl_local`` on a free port; returns once it answers (fails with its output)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HITL_", "AWS_"))}
    env.update(HITL_SWEEP_SECONDS="1", HITL_LOG_LEVEL="WARNING", PYTHONUNBUFFERED="1", **settings)
    config_path = state_dir / "local.json"
    previous = _identity(config_path)  # a previous run's file: wait for this run's
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "hitl_local", "--port", "0", "--state-dir", str(state_dir)],
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    config: dict[str, Any] | None = None
    while config is None or not _health(config["apiUrl"]):
        if process.poll() is not None:
            _fail(process, log_path, f"exited with {process.returncode} while starting")
        if time.monotonic() > deadline:
            _fail(process, log_path, f"did not come up within {START_TIMEOUT_S} s")
        time.sleep(0.2)
        if config is None and _identity(config_path) not in (None, previous):
            config = json.loads(config_path.read_text())
    return Stack(config=config, state_dir=state_dir, process=process, log_path=log_path, env=env)


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        found = path.stat()
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_mtime_ns


def stop_stack(running: Stack) -> None:
    """Ctrl-C, as a developer would; fails unless it stops cleanly (exit 0) and soon."""
    running.process.send_signal(signal.SIGINT)
    try:
        code = running.process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        _fail(running.process, running.log_path, f"did not stop within {STOP_TIMEOUT_S} s of Ctrl-C")
    if code != 0:
        _fail(running.process, running.log_path, f"exited with {code} after Ctrl-C")


def _fail(process: subprocess.Popen[bytes], log_path: Path, why: str) -> NoReturn:
    if process.poll() is None:
        process.kill()
        process.wait()
    pytest.fail(f"the local stack {why}; its output:\n{log_path.read_text(errors='replace')}", pytrace=False)


@pytest.fixture(scope="session")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One local stack for the whole session (a 1 s sweep, a temporary state directory)."""
    base = tmp_path_factory.mktemp("local-stack")
    running = start_stack(base / "state", base / "stack.log")
    yield running
    stop_stack(running)


@pytest.fixture
def launch(tmp_path: Path) -> Iterator[Callable[[Path], Stack]]:
    """``launch(state_dir)``: a local stack of the test's own (stopped at the end if still up)."""
    started: list[Stack] = []

    def start(state_dir: Path) -> Stack:
        running = start_stack(state_dir, tmp_path / "stack.log")
        started.append(running)
        return running

    yield start
    for running in started:
        if running.process.poll() is None:
            running.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A failed test against the stack shows the stack's last output lines too."""
    report = yield
    used = getattr(item, "funcargs", {})
    running = used.get("stack") or getattr(used.get("restart"), "stack", None)
    if report.failed and isinstance(running, Stack):
        tail = "\n".join(running.output().splitlines()[-STACK_TAIL_LINES:])
        report.sections.append(("local stack output (last lines)", tail))
    return report


@pytest.fixture
def agent(stack: Stack) -> Client:
    """An agent of tenant ``local``, with the API key the stack wrote to ``local.json``."""
    return stack.http(stack.config["apiKey"])


@pytest.fixture
def new_pause(agent: Http) -> Callable[..., dict[str, Any]]:
    def create(client: Client | None = None, **fields: Any) -> dict[str, Any]:
        body = {"action": "Deploy build 42 to production", "context": {"build": 42}, **fields}
        answer = (client or agent).post("/api/pause", body)
        assert answer.status == 201, answer.body
        created: dict[str, Any] = answer.json()
        return created

    return create


def _eventually(check: Callable[[], Any], timeout_s: float = 15, every_s: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"still not true after {timeout_s} s: {check}")
        time.sleep(every_s)


@pytest.fixture
def eventually() -> Callable[..., Any]:
    """``eventually(check, timeout_s=15)``: poll ``check`` until it returns something truthy."""
    return _eventually
