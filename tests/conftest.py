"""Fixtures shared by the unit, integration and end-to-end tests (none are autouse)."""

from __future__ import annotations

import functools
import importlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.loaders
import botocore.session
import pytest
from moto import mock_aws

from hitl import runtime, wiring
from hitl.adapters.dynamo import DynamoStore
from hitl.domain.tenants import TenantAdmin
from hitl_local import apigw, moto_server, pollers, resources
from tests.client import Client, in_process

BASE_URL = "https://hitl.example.test"

#: botocore's data loader, made once per test process and shared by every session: each test's
#: ``runtime.reset()`` makes a new boto3 session, whose every client would otherwise parse the
#: same service models (megabytes of JSON) again — about half of an integration test's setup
shared_loader = functools.cache(botocore.loaders.create_loader)


@dataclass
class Cloud:
    """moto in-process, with the stack's resources created from the wiring."""

    session: boto3.session.Session
    names: resources.Names

    def client(self, service: str) -> Any:
        return self.session.client(service)  # type: ignore[call-overload]

    @property
    def store(self) -> DynamoStore:
        return runtime.services().store

    def items(self) -> list[dict[str, Any]]:
        """Every item of the table, raw (tests only: no function scans)."""
        pages = self.client("dynamodb").get_paginator("scan").paginate(TableName=self.names.table)
        return [item for page in pages for item in page["Items"]]

    def events(self) -> list[dict[str, Any]]:
        """Every event the test-only rule collected so far, in order, each once."""
        sqs = self.client("sqs")
        url = self.names.queues["all-events"]
        seen: list[dict[str, Any]] = []
        while True:
            answer = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            messages = answer.get("Messages", [])
            if not messages:
                return seen
            for message in messages:
                seen.append(json.loads(message["Body"]))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])

    def run_queue(self, name: str) -> int:
        """Hand the messages waiting in queue ``name`` to its function, as an event source
        mapping does (ReportBatchItemFailures: failed messages stay); returns how many were
        settled."""
        subscription = next(s for s in wiring.SUBSCRIPTIONS if s.name == name)
        assert subscription.function is not None
        function = wiring.function(subscription.function)
        sqs = self.client("sqs")
        url = self.names.queues[name]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        answer = sqs.receive_message(
            QueueUrl=url, MaxNumberOfMessages=subscription.batch_size, AttributeNames=["All"], WaitTimeSeconds=0
        )
        messages = answer.get("Messages", [])
        if not messages:
            return 0
        module = importlib.import_module(function.handler.rsplit(".", 1)[0])
        try:
            result = module.lambda_handler(
                pollers.sqs_event(messages, arn), apigw.LambdaContext(function_name=function.name)
            )
        except Exception:  # a failed invocation: the whole batch comes back
            return 0
        done = pollers.settled(messages, result) or []
        for message in done:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return len(done)

    def sent_emails(self) -> list[Any]:
        """Every email SES accepted, parsed (moto keeps them in memory)."""
        from email import message_from_bytes, policy

        from moto.ses.models import ses_backends

        backend = ses_backends["123456789012"]["us-east-1"]
        return [message_from_bytes(m.raw_data.encode(), policy=policy.default) for m in backend.sent_messages]


@pytest.fixture
def cloud(monkeypatch: pytest.MonkeyPatch) -> Iterator[Cloud]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "POWERTOOLS_TRACE_DISABLED": "true",
        "POWERTOOLS_METRICS_NAMESPACE": "HITL",
        "POWERTOOLS_SERVICE_NAME": "hitl",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.setattr(botocore.session, "create_loader", shared_loader)
    # DynamoDB is atomic per item; moto in-process is not across threads: serialize its calls
    # exactly as the local stack does, so that race tests test our conditions, not moto
    with mock_aws(config={"core": {"reset_boto3_session": False}}), moto_server.serialized_in_process_dynamodb():
        runtime.reset()
        session = boto3.session.Session(region_name="us-east-1")
        names = resources.create(session)
        deployment = wiring.Deployment(
            names.table, names.bus, BASE_URL, names.queues, kms_key_id=names.kms_key_id, log_level="WARNING"
        )
        for name, value in wiring.shared_environment(deployment).items():
            monkeypatch.setenv(name, value)
        yield Cloud(session=session, names=names)
    runtime.reset()


@pytest.fixture
def admin(cloud: Cloud) -> TenantAdmin:
    return runtime.tenant_admin(cloud.store)


@pytest.fixture
def make_tenant(admin: TenantAdmin) -> Callable[..., dict[str, Any]]:
    counter = iter(range(10_000))

    def make(plan: str = "pro", approvers: list[str] | None = None, name: str | None = None) -> dict[str, Any]:
        n = next(counter)
        return admin.create_tenant(
            name or f"tenant-{n}", plan, approvers if approvers is not None else [f"approver{n}@example.com"]
        )

    return make


@pytest.fixture
def api(cloud: Cloud) -> Client:
    """The shared test client, calling the handlers in-process as API Gateway would."""
    return Client(in_process)
