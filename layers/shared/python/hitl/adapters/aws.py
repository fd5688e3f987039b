"""AWS clients, built lazily (never at import time) and reused; ``reset()`` in tests.

botocore's session builds them, as ``boto3.client`` does underneath: the clients are the same,
and boto3's package (its resources, docs and s3transfer, with multiprocessing) would cost every
cold start ~10 ms for nothing a client uses.  Credentials, region and ``AWS_ENDPOINT_URL`` come
from the environment as with boto3.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, cast

import botocore.session
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sesv2 import SESV2Client
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

_CONFIG = Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=2, read_timeout=10)


@lru_cache(maxsize=1)
def session() -> botocore.session.Session:
    return botocore.session.get_session()


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    return cast("DynamoDBClient", session().create_client("dynamodb", config=_CONFIG))


@lru_cache(maxsize=1)
def events() -> EventBridgeClient:
    return cast("EventBridgeClient", session().create_client("events", config=_CONFIG))


@lru_cache(maxsize=1)
def sesv2() -> SESV2Client:
    return cast("SESV2Client", session().create_client("sesv2", config=_CONFIG))


@lru_cache(maxsize=1)
def sqs() -> SQSClient:
    return cast("SQSClient", session().create_client("sqs", config=_CONFIG))


@lru_cache(maxsize=1)
def kms() -> KMSClient:
    return cast("KMSClient", session().create_client("kms", config=_CONFIG))


@lru_cache(maxsize=1)
def ssm() -> SSMClient:
    return cast("SSMClient", session().create_client("ssm", config=_CONFIG))


def reset() -> None:
    for factory in (session, dynamodb, events, sesv2, sqs, kms, ssm):
        factory.cache_clear()
