"""Latency per route on the local stack (``python -m hitl_local`` on a free port, a fresh state
directory), N sequential requests each: p50 / p95 as the client sees them over loopback and as the
stack's HTTP front logs them (its "-> status (function, N ms)" lines), and how soon a long-poll
returns after another request decides the pause.  Figures for comparison between changes on one
machine, not for AWS: moto stands in for DynamoDB and EventBridge.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.common import Options, free_port, heading, percentile, table

START_TIMEOUT_S = 120
#: the local stack's log line for each request it serves
FRONT_LOG = re.compile(
    r"hitl_local: (?P<method>[A-Z]+) (?P<path>\S+) -> (?P<status>\d+) \((?P<function>[^,]+), (?P<ms>\d+) ms\)"
)


class StackFailed(Exception):
    pass


@dataclass
class LocalStack:
    """The local stack as a subprocess, as a developer (or an end-to-end test) starts it."""

    state_dir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def log_file(self) -> Path:
        return self.state_dir / "bench-stack.log"

    def start(self, extra_env: dict[str, str] | None = None) -> None:
        command = [sys.executable, "-m", "hitl_local", "--port", str(self.port), "--state-dir", str(self.state_dir)]
        with self.log_file.open("wb") as log:
            env = {**os.environ, **(extra_env or {})}
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
        config_file = self.state_dir / "local.json"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackFailed(f"exited with {self.process.returncode}:\n{self.log_tail()}")
            if config_file.exists():
                try:
                    self.config = json.loads(config_file.read_text())
                    return
                except json.JSONDecodeError:
                    pass  # being written
            time.sleep(0.2)
        raise StackFailed(f"no {config_file} after {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        """Ctrl-C, as a developer stops it; killed if it does not stop within 30 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def front_times_ms(self) -> list[tuple[str, str, float]]:
        """(method, path, ms) of every request the stack's front logged, in order."""
        found = []
        for line in self.log_file.read_text(errors="replace").splitlines():
            match = FRONT_LOG.search(line)
            if match:
                found.append((match["method"], match["path"], float(match["ms"])))
        return found


@dataclass
class Client:
    api_url: str
    api_key: str
    #: (route, method, path, seconds) of every request, in order
    timings: list[tuple[str, str, str, float]] = field(default_factory=list)

    def request(self, route: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.api_url + path,
            data=data,
            method=method,
            headers={"Authorization": f"Bearer {self.api_key}", "Content-Type": "application/json"},
        )
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(request, timeout=60) as answer:
                status, raw = answer.status, answer.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        if route:  # unnamed: set-up, not measured
            self.timings.append((route, method, path.partition("?")[0], time.perf_counter() - started))
        return status, json.loads(raw) if raw else None

    def expect(self, route: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        got, answer = self.request(route, method, path, body)
        if got != status:
            raise StackFailed(f"{method} {path} answered {got}, not {status}: {answer}")
        return answer


def exercise(client: Client, n: int) -> None:
    """Every route ``n`` times, one request at a time."""
    created = [
        client.expect("create", "POST", "/api/pause", {"action": f"bench {i}", "context": {"i": i}}, 201)["watchId"]
        for i in range(n)
    ]
    routes: list[tuple[str, Callable[[int], None]]] = [
        ("get", lambda i: client.expect("get", "GET", f"/api/pause/{created[i]}")),
        ("list", lambda i: client.expect("list", "GET", "/api/pause?limit=20")),
        ("audit", lambda i: client.expect("audit", "GET", "/api/audit?limit=20")),
        ("openapi", lambda i: client.expect("openapi", "GET", "/api/openapi.json")),
        ("cancel", lambda i: client.expect("cancel", "POST", f"/api/pause/{created[i]}/cancel")),
    ]
    for _, once in routes:
        for i in range(n):
            once(i)


def decision_to_return(client: Client) -> tuple[float, float]:
    """A long-poll waits on a pause that another request cancels: (seconds from sending the cancel
    to the long-poll's answer, seconds the cancel itself took).  The long-poll may answer before
    the cancel does: the head changes before the cancel publishes its event."""
    watch_id = client.expect("", "POST", "/api/pause", {"action": "wait"}, 201)["watchId"]
    returned: list[float] = []

    def wait() -> None:
        client.expect("", "GET", f"/api/pause/{watch_id}?wait=10")
        returned.append(time.perf_counter())

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(0.5)  # the wait is under way
    sent = time.perf_counter()
    client.expect("", "POST", f"/api/pause/{watch_id}/cancel")
    answered = time.perf_counter()
    waiter.join()
    return returned[0] - sent, answered - sent


def run(options: Options) -> None:
    n = options.requests
    heading(f"Latency on the local stack ({n} sequential requests per route; ms)")
    with tempfile.TemporaryDirectory(prefix="hitl-bench-") as state_dir:
        stack = LocalStack(Path(state_dir))
        try:
            started = time.perf_counter()
            stack.start()
            print(f"local stack up in {time.perf_counter() - started:.1f} s on port {stack.port}")
            client = Client(stack.config["apiUrl"], stack.config["apiKey"])
            exercise(client, 3)  # warm-up: each worker's first key lookup, the cursor secret, …
            client.timings.clear()
            warm_up_lines = len(stack.front_times_ms())
            exercise(client, n)
            front = stack.front_times_ms()[warm_up_lines:]
            delays = [decision_to_return(client) for _ in range(max(3, n // 5))]
        except StackFailed as failure:
            print(f"skipped: the local stack failed: {failure}")
            return
        finally:
            stack.stop()
    server_times = _server_times(client.timings, front)
    rows = []
    for route in dict.fromkeys(route for route, *_ in client.timings):
        seen = [t * 1000 for r, _, _, t in client.timings if r == route]
        logged = server_times.get(route, [])
        rows.append(
            (
                route,
                len(seen),
                f"{percentile(seen, 50):.1f}",
                f"{percentile(seen, 95):.1f}",
                f"{percentile(logged, 50):.0f}" if logged else "-",
                f"{percentile(logged, 95):.0f}" if logged else "-",
            )
        )
    print(table(["route", "n", "client p50", "client p95", "front p50", "front p95"], rows))
    to_answer = [wait * 1000 for wait, _ in delays]
    cancels = [cancel * 1000 for _, cancel in delays]
    print(
        f"\nA long-poll cancelled by another request answers {percentile(to_answer, 50):.0f} ms (p50; max "
        f"{max(to_answer):.0f}) after the cancel is sent; the cancel itself takes {percentile(cancels, 50):.0f} ms "
        f"(p50); n={len(delays)}; the wait re-reads the head every 100 ms in its first 10 s, then every 200 ms."
    )


def _server_times(
    timings: list[tuple[str, str, str, float]], front: list[tuple[str, str, float]]
) -> dict[str, list[float]]:
    """The front's logged times per route: each request matched to the first unmatched log line
    with its method and path (the long-poll's line comes after its cancel's; paths tell them apart)."""
    by_route: dict[str, list[float]] = {}
    pending = list(front)
    for route, method, path, _ in timings:
        for i, (m, p, ms) in enumerate(pending):
            if m == method and p == path:
                by_route.setdefault(route, []).append(ms)
                del pending[i]
                break
    return by_route
