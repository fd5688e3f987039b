"""A webhook receiver on 127.0.0.1: for trying webhooks on the local stack, for tests, for the bench.

    python -m hitl_local.receiver --port 9000 --secret whsec_…

prints each delivery, verified with the endpoint's secret.  In tests it records every request
and answers as scripted (``answers``: statuses in order, the last one repeating; ``hold``:
block each request until set; ``redirect_to``: where 3xx answers point).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float  # time.perf_counter()
    wall: float  # time.time()


@dataclass
class Receiver:
    answers: list[int] = field(default_factory=lambda: [200])
    hold: threading.Event | None = None
    redirect_to: str = ""
    received: list[Received] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)
    changed: threading.Condition = field(default_factory=threading.Condition)
    url: str = ""

    def answer_for(self, n: int) -> int:
        return self.answers[min(n, len(self.answers) - 1)]

    def wait_for(self, count: int, timeout_s: float) -> Received | None:
        """The ``count``-th request (1-based), once it has arrived; ``None`` after ``timeout_s``."""
        with self.changed:
            if not self.changed.wait_for(lambda: len(self.received) >= count, timeout_s):
                return None
            return self.received[count - 1]


@contextmanager
def receiver(port: int = 0, **options: object) -> Iterator[Receiver]:
    state = Receiver(**options)  # type: ignore[arg-type]

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            headers = {k.lower(): v for k, v in self.headers.items()}
            with state.changed:
                state.received.append(Received(self.path, headers, body, time.perf_counter(), time.time()))
                number = len(state.received)
                state.changed.notify_all()
            state.arrived.set()
            if state.hold is not None:
                state.hold.wait(30)
            status = state.answer_for(number - 1)
            self.send_response(status)
            if 300 <= status < 400:
                self.send_header("Location", state.redirect_to)
            answer = f"answer {status}".encode()
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print (and verify) the webhooks the local stack sends.")
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", help="the endpoint's whsec_… secret, to verify each delivery")
    args = parser.parse_args(argv)
    with receiver(port=args.port) as hook:
        print(
            f'listening on {hook.url}  (register it: POST /api/webhooks {{"url": "{hook.url}"}}); Ctrl-C stops',
            flush=True,
        )
        seen = 0
        try:
            while True:
                delivery = hook.wait_for(seen + 1, 3600)
                if delivery is None:
                    continue
                seen += 1
                verdict = ""
                if args.secret:
                    from standardwebhooks.webhooks import Webhook, WebhookVerificationError

                    try:
                        Webhook(args.secret).verify(delivery.body, delivery.headers)
                        verdict = "signature OK"
                    except WebhookVerificationError as error:
                        verdict = f"signature REFUSED: {error}"
                envelope = json.loads(delivery.body)
                print(f"{delivery.headers.get('webhook-id')}  {envelope.get('type')}  {verdict}")
                print(json.dumps(envelope, indent=2), flush=True)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
