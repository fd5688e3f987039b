"""What turns queues and schedules into invocations on the local stack.

* ``QueuePoller``: an SQS event source mapping with ``ReportBatchItemFailures``: long-polls a
  subscription's queue, invokes its function with ``{"Records": [...]}`` and deletes the
  records the function did not report as failed (a failed invocation deletes nothing: the
  messages come back after the visibility timeout, and reach the DLQ after
  ``maxReceiveCount`` receives, as in AWS).  Like a mapping, it runs several batches at once
  (``concurrency``): a batch that takes long (a webhook endpoint that hangs for its 10 s) never
  holds up the next one.
* ``EventCollector``: drains a test-only queue that no function reads (``all-events``) into
  memory, for ``GET /_local/events.json``.
* ``ScheduleRunner``: invokes a scheduled function every N seconds with a scheduled event.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import uuid
from collections import deque
from typing import Any

from hitl import wiring
from hitl_local.workers import PoolClosed, WorkerPool

log = logging.getLogger("hitl_local.pollers")

REGION = "us-east-1"
ACCOUNT = "123456789012"
#: how long one receive waits for messages (short: a stop never waits long)
WAIT_TIME_S = 1
#: what ``/_local/events.json`` keeps, newest kept
COLLECTED_MAX = 10_000
#: batches an SQS event source mapping starts with at once (Lambda's "five concurrent batches");
#: the function's ``local_max`` caps it on the local stack
MAPPING_CONCURRENCY = 5


class _Loop:
    """A daemon thread running ``step`` until stopped."""

    name = "loop"

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def join(self, timeout_s: float = 5.0) -> None:
        self._thread.join(timeout_s)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.step()
            except PoolClosed:
                return
            except Exception:
                if self._stop.is_set():
                    return
                log.exception("%s failed; retrying in 1 s", self.name)
                self._stop.wait(1)

    def step(self) -> None:
        raise NotImplementedError


def queue_arn(sqs: Any, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]
    arn: str = attributes["QueueArn"]
    return arn


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API message attributes in the shape an SQS Lambda event uses."""
    shaped = {}
    for name, value in attributes.items():
        binary = value.get("BinaryValue")
        shaped[name] = {
            "stringValue": value.get("StringValue"),
            "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
            "stringListValues": value.get("StringListValues", []),
            "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
            "dataType": value.get("DataType", "String"),
        }
    return shaped


def sqs_event(messages: list[dict[str, Any]], source_arn: str) -> dict[str, Any]:
    """The event an SQS event source mapping hands its function."""
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": dict(message.get("Attributes", {})),
                "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": source_arn,
                "awsRegion": REGION,
            }
            for message in messages
        ]
    }


def settled(messages: list[dict[str, Any]], result: Any) -> list[dict[str, Any]] | None:
    """The messages to delete after a successful invocation, by ``ReportBatchItemFailures``
    rules: every one not reported failed; ``None`` (the whole batch failed) when the answer
    names a message that is not in the batch or is malformed."""
    if not isinstance(result, dict) or not result.get("batchItemFailures"):
        return messages
    failures = result["batchItemFailures"]
    if not isinstance(failures, list):
        return None
    batch = {m["MessageId"] for m in messages}
    failed = set()
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, dict) else None
        if not identifier or identifier not in batch:
            return None
        failed.add(identifier)
    return [m for m in messages if m["MessageId"] not in failed]


class QueuePoller(_Loop):
    """``concurrency``: batches in flight at once; one receive waits at a time, and only while
    a batch may start (so idle queues cost one long-poll each, whatever the concurrency)."""

    def __init__(
        self, sqs: Any, queue_url: str, subscription: wiring.Subscription, pool: WorkerPool, concurrency: int = 1
    ) -> None:
        self.name = f"poll-{subscription.name}"
        super().__init__()
        self.sqs = sqs
        self.queue_url = queue_url
        self.subscription = subscription
        self.pool = pool
        self.arn = queue_arn(sqs, queue_url)
        self.concurrency = max(1, concurrency)
        self._slots = threading.BoundedSemaphore(self.concurrency)
        #: batches under way (their threads) and the ids of their messages
        self._batches: set[threading.Thread] = set()
        self._in_flight: set[str] = set()
        #: ids of messages whose batch the stop cut short (what a restart shows again at once)
        self._interrupted: set[str] = set()
        self._flight_lock = threading.Lock()

    def step(self) -> None:
        if self.concurrency == 1:
            self.poll_once()
            return
        if not self._slots.acquire(timeout=WAIT_TIME_S):  # every batch in flight: look at _stop again
            return
        try:
            messages = self._receive(WAIT_TIME_S)
        except BaseException:
            self._slots.release()
            raise
        if not messages:
            self._slots.release()
            return
        thread = threading.Thread(target=self._run_batch, args=(messages,), name=f"{self.name}-batch", daemon=True)
        with self._flight_lock:
            self._batches.add(thread)
        thread.start()

    def _run_batch(self, messages: list[dict[str, Any]]) -> None:
        try:
            self._invoke(messages)
        except PoolClosed:
            pass
        except Exception:
            if not self._stop.is_set():
                log.exception("%s failed on a batch of %d; it will be retried", self.name, len(messages))
        finally:
            with self._flight_lock:
                self._batches.discard(threading.current_thread())
            self._slots.release()

    def join(self, timeout_s: float = 5.0) -> None:
        """The loop, then every batch under way (a stop ends their invocations)."""
        deadline = time.monotonic() + timeout_s
        super().join(timeout_s)
        with self._flight_lock:
            batches = list(self._batches)
        for thread in batches:
            thread.join(max(0.0, deadline - time.monotonic()))

    def interrupted(self) -> set[str]:
        """Ids of the messages received and neither settled nor handed back by their function
        because the stack stopped (their batch cut short, or still under way)."""
        with self._flight_lock:
            return self._interrupted | self._in_flight

    def _receive(self, wait_s: int) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = self.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=min(10, self.subscription.batch_size),
            WaitTimeSeconds=wait_s,
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        ).get("Messages", [])
        return messages

    def poll_once(self, wait_s: int = WAIT_TIME_S) -> int:
        """One receive and its invocation; the number of messages received."""
        messages = self._receive(wait_s)
        if messages:
            self._invoke(messages)
        return len(messages)

    def _invoke(self, messages: list[dict[str, Any]]) -> None:
        """One invocation with ``messages``, then the deletion of those it did not report failed."""
        ids = {m["MessageId"] for m in messages}
        with self._flight_lock:
            self._in_flight |= ids
        settled_by_function = False
        try:
            settled_by_function = self._invoke_and_settle(messages)
        finally:
            with self._flight_lock:
                self._in_flight -= ids
                if not settled_by_function and self._stop.is_set():
                    self._interrupted |= ids

    def _invoke_and_settle(self, messages: list[dict[str, Any]]) -> bool:
        """Whether the function ran to the end (so what it did not settle, it meant to leave)."""
        invocation = self.pool.invoke(sqs_event(messages, self.arn))
        if not invocation.ok:
            log.warning(
                "%s: %s on a batch of %d (%s); the messages will be retried",
                self.subscription.name,
                invocation.outcome.value,
                len(messages),
                invocation.error,
            )
            return False
        done = settled(messages, invocation.result)
        if done is None:
            log.warning("%s: the batchItemFailures answer is malformed; the batch will be retried", self.name)
            return True
        if done:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)],
            )
        return True


class EventCollector(_Loop):
    """Keeps every message of a queue no function reads (oldest first), for tests and people."""

    def __init__(self, sqs: Any, queue_url: str, subscription: wiring.Subscription) -> None:
        self.name = f"collect-{subscription.name}"
        super().__init__()
        self.sqs = sqs
        self.queue_url = queue_url
        self.subscription = subscription
        self._events: deque[Any] = deque(maxlen=COLLECTED_MAX)
        self._lock = threading.Lock()

    def step(self) -> None:
        self.drain(WAIT_TIME_S)

    def drain(self, wait_s: int = 0) -> int:
        messages = self.sqs.receive_message(
            QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s
        ).get("Messages", [])
        with self._lock:
            for message in messages:
                try:
                    self._events.append(json.loads(message["Body"]))
                except ValueError:
                    self._events.append(message["Body"])
        if messages:
            self.sqs.delete_message_batch(
                QueueUrl=self.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        return len(messages)

    def events(self) -> list[Any]:
        with self._lock:
            return list(self._events)


def scheduled_event(rule_name: str) -> dict[str, Any]:
    """What EventBridge sends a function on a schedule."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "region": REGION,
        "resources": [f"arn:aws:events:{REGION}:{ACCOUNT}:rule/{rule_name}"],
        "detail": {},
    }


class ScheduleRunner(_Loop):
    """Invokes a function every ``period_s`` seconds, at a fixed rate (an overrun skips ticks)."""

    def __init__(self, schedule: wiring.Schedule, pool: WorkerPool, period_s: float) -> None:
        self.name = f"schedule-{schedule.function}"
        super().__init__()
        self.schedule = schedule
        self.pool = pool
        self.period_s = max(0.1, period_s)
        self._next = time.monotonic() + self.period_s

    def step(self) -> None:
        if self._stop.wait(max(0.0, self._next - time.monotonic())):
            return
        now = time.monotonic()
        self._next += self.period_s * max(1, int((now - self._next) // self.period_s) + 1)
        invocation = self.pool.invoke(scheduled_event(f"hitl-local-{self.schedule.function}"))
        if not invocation.ok:
            log.warning("%s: %s %s", self.name, invocation.outcome.value, invocation.error)
