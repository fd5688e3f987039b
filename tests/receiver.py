"""A webhook receiver on 127.0.0.1 for tests: records every request, answers as scripted."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """``answers``: statuses to give in order (the last one repeats); ``hold`` blocks each
    request until set; ``redirect_to`` makes 3xx answers point there."""

    answers: list[int] = field(default_factory=lambda: [200])
    hold: threading.Event | None = None
    redirect_to: str = ""
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    url: str = ""

    def answer_for(self, n: int) -> int:
        return self.answers[min(n, len(self.answers) - 1)]


@contextmanager
def receiver(**options: object) -> Iterator[Receiver]:
    state = Receiver(**options)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            state.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
            state.arrived.set()
            if state.hold is not None:
                state.hold.wait(30)
            status = state.answer_for(len(state.received) - 1)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", state.redirect_to)
            self.send_header("Content-Type", "text/plain")
            self.end_headers()
            self.wfile.write(f"answer {status}".encode())

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    try:
        yield state
    finally:
        if state.hold is not None:
            state.hold.set()
        server.shutdown()
        server.server_close()
