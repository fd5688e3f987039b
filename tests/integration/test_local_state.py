"""What the local stack saves at a stop and puts back at a start, besides the table: the queues'
messages (waiting, delayed, received) and the outbox; and how every state file is written."""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hitl_local import outbox, resources, saved_messages, state

REGION = "us-east-1"


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


def _queue(sqs: Any, name: str = "work") -> str:
    url: str = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    return url


def _attributes(sqs: Any, url: str) -> dict[str, int]:
    names = [f"ApproximateNumberOfMessages{kind}" for kind in ("", "NotVisible", "Delayed")]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return {name: int(found[name]) for name in names}


def _receive(sqs: Any, url: str) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = sqs.receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], MessageAttributeNames=["All"]
    ).get("Messages", [])
    return messages


def _saved_queues(tmp_path: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """A queue in every state a message can be in at a stop, exported; (saved, id of each)."""
    sqs = boto3.client("sqs", region_name=REGION)
    url = _queue(sqs)
    ids = {}
    for name in ("working", "retry-later", "failed-record"):
        ids[name] = sqs.send_message(QueueUrl=url, MessageBody=name)["MessageId"]
    received = {m["Body"]: m for m in _receive(sqs, url)}
    assert set(received) == {"working", "retry-later", "failed-record"}
    # a function asked for its retry in 2 minutes; another's record failed (back after the visibility
    # timeout); the third was being worked on when the stack stopped
    retry = received["retry-later"]["ReceiptHandle"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=retry, VisibilityTimeout=120)
    ids["waiting"] = sqs.send_message(
        QueueUrl=url,
        MessageBody=json.dumps({"watchId": "w_1"}),
        MessageAttributes={
            "kind": {"DataType": "String", "StringValue": "email"},
            "blob": {"DataType": "Binary", "BinaryValue": b"\x00\xff"},
        },
    )["MessageId"]
    ids["delayed"] = sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=60)["MessageId"]
    saved = saved_messages.export_queues(interrupted={ids["working"]})
    state.save_messages(tmp_path, saved, saved_messages.export_outbox())
    return state.load_messages(tmp_path)[0], ids


def test_every_message_of_a_queue_comes_back_as_it_was(tmp_path):
    # Given a queue with a message waiting, one delayed, and three received: one being worked on at
    # the stop, one a function hid for a retry, one whose record failed
    with mock_aws():
        saved, ids = _saved_queues(tmp_path)

    # When a new moto (a new run) makes the queue again and the saved messages are put back
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        url = _queue(sqs)
        assert saved_messages.import_queues(saved) == 5

        # Then the waiting one and the interrupted one are there at once; the delayed one keeps its
        # delay; the two a function hid stay hidden for the time they had left
        assert _attributes(sqs, url) == {
            "ApproximateNumberOfMessages": 2,
            "ApproximateNumberOfMessagesNotVisible": 2,
            "ApproximateNumberOfMessagesDelayed": 1,
        }
        again = {m["MessageId"]: m for m in _receive(sqs, url)}
        assert set(again) == {ids["waiting"], ids["working"]}
        # with their ids, attributes and receive counts (a handler counts its attempts by it)
        working = again[ids["working"]]
        assert working["Body"] == "working" and working["Attributes"]["ApproximateReceiveCount"] == "2"
        waiting = again[ids["waiting"]]
        assert json.loads(waiting["Body"]) == {"watchId": "w_1"}
        assert waiting["Attributes"]["ApproximateReceiveCount"] == "1"
        assert waiting["MessageAttributes"]["kind"]["StringValue"] == "email"
        assert waiting["MessageAttributes"]["blob"]["BinaryValue"] == b"\x00\xff"
        # and the received ones can be deleted with their new receipt handles
        sqs.delete_message(QueueUrl=url, ReceiptHandle=working["ReceiptHandle"])
        assert _attributes(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == 3


def test_the_time_left_is_kept_not_the_time_it_was_due(tmp_path):
    with mock_aws():
        saved, ids = _saved_queues(tmp_path)
    by_id = {m["id"]: m for m in saved["queues"]["work"]}
    assert 55_000 < by_id[ids["delayed"]]["delayLeftMs"] <= 60_000
    assert 115_000 < by_id[ids["retry-later"]]["hiddenLeftMs"] <= 120_000
    assert 25_000 < by_id[ids["failed-record"]]["hiddenLeftMs"] <= 30_000
    assert by_id[ids["working"]]["hiddenLeftMs"] == 0
    # put back twice (a second start from the same files): never twice in the queue
    with mock_aws():
        sqs = boto3.client("sqs", region_name=REGION)
        _queue(sqs)
        assert saved_messages.import_queues(saved) == 5
        assert saved_messages.import_queues(saved) == 0


def _send_raw(ses: Any, to: str, subject: str) -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = f"hitl@{resources.SENDER_DOMAIN}", to, subject
    message.set_content(f"{subject}: https://hitl.example.test/a/token/approve")
    message.add_alternative(f"<html><body><p>{subject}</p></body></html>", subtype="html")
    ses.send_raw_email(RawMessage={"Data": message.as_bytes()})


def test_the_outbox_comes_back_in_its_order_before_new_mail(tmp_path):
    with mock_aws():
        ses = boto3.client("ses", region_name=REGION)
        ses.verify_domain_identity(Domain=resources.SENDER_DOMAIN)
        _send_raw(ses, "a@example.com", "first")
        _send_raw(ses, "b@example.com", "second")
        before = outbox.emails()
        state.save_messages(tmp_path, saved_messages.export_queues(), saved_messages.export_outbox())
    with mock_aws():
        ses = boto3.client("ses", region_name=REGION)
        ses.verify_domain_identity(Domain=resources.SENDER_DOMAIN)
        assert saved_messages.import_outbox(state.load_messages(tmp_path)[1]) == 2
        assert outbox.emails() == before
        _send_raw(ses, "c@example.com", "third")
        assert [e["subject"] for e in outbox.emails()] == ["third", "second", "first"]


def test_the_table_is_saved_with_a_scan_of_its_own(tmp_path, aws):
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(**resources.table_definition("t"))
    items = [{"pk": {"S": f"P#{i}"}, "sk": {"S": "HEAD"}, "blob": {"B": bytes([i % 256])}} for i in range(60)]
    for item in items:
        dynamodb.put_item(TableName="t", Item=item)
    assert state.dump(dynamodb, "t", tmp_path) == 60
    dynamodb.create_table(**resources.table_definition("u"))
    assert state.restore(dynamodb, "u", tmp_path) == 60
    copied = sorted(state.scan(dynamodb, "u"), key=lambda i: i["pk"]["S"])
    assert copied == sorted(items, key=lambda i: i["pk"]["S"])


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_every_state_file_is_the_owners_only_whatever_the_umask(tmp_path):
    state_dir = tmp_path / "state"
    previous = os.umask(0)
    try:
        # a leftover temporary file of a crashed run, readable by all, is not reused
        state_dir.mkdir()
        leftover = state_dir / f".{state.CONFIG_FILE}.{os.getpid()}.tmp"
        leftover.write_text("{}")
        leftover.chmod(0o666)
        state.write_json(state_dir / state.CONFIG_FILE, {"apiKey": "hitl_secret"})
        state.write_json(state_dir / state.DUMP_FILE, {"items": []})
        state.save_messages(state_dir, {"queues": {}}, {"emails": []})
        lock = state.StateLock(state_dir)
        lock.acquire()
        lock.release()
        fresh = tmp_path / "fresh"
        state.write_json(fresh / state.CONFIG_FILE, {})
    finally:
        os.umask(previous)
    for name in (state.CONFIG_FILE, state.DUMP_FILE, state.QUEUES_FILE, state.OUTBOX_FILE, state.LOCK_FILE):
        assert _mode(state_dir / name) == 0o600, name
    assert json.loads((state_dir / state.CONFIG_FILE).read_text()) == {"apiKey": "hitl_secret"}
    assert not leftover.exists()
    assert _mode(fresh) == 0o700  # a state directory made by the stack is its owner's only
