"""boto3 clients, built lazily (never at import time) and reused; ``reset()`` in tests."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sqs import SQSClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=10)


@lru_cache(maxsize=1)
def session() -> boto3.session.Session:
    return boto3.session.Session()


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    return session().client("dynamodb", config=_CONFIG)


@lru_cache(maxsize=1)
def events() -> EventBridgeClient:
    return session().client("events", config=_CONFIG)


@lru_cache(maxsize=1)
def sesv2() -> SESV2Client:
    return session().client("sesv2", config=_CONFIG)


@lru_cache(maxsize=1)
def sqs() -> SQSClient:
    return session().client("sqs", config=_CONFIG)


@lru_cache(maxsize=1)
def kms() -> KMSClient:
    return session().client("kms", config=_CONFIG)


def reset() -> None:
    for factory in (session, dynamodb, events, sesv2, sqs, kms):
        factory.cache_clear()
