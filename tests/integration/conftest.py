"""Factory fixtures of the integration tests: a team, its pauses, their emails (none are autouse).

``make_tenant`` and the in-process ``api`` client come from ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.client import Answer, Client
from tests.conftest import Cloud

#: the approvers of ``team``
ANN, BOB = "ann@x.test", "bob@x.test"


@pytest.fixture
def team(make_tenant: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """A tenant on the pro plan whose confirmed approvers are ann@x.test and bob@x.test."""
    return make_tenant(plan="pro", approvers=[ANN, BOB])


@pytest.fixture
def pause_request(api: Client) -> Callable[..., Answer]:
    """``pause_request(tenant, **fields)``: ``POST /api/pause`` with the tenant's API key (the
    action "Deploy" unless ``fields`` name one); the answer, whatever it is."""

    def post(tenant: dict[str, Any], **fields: Any) -> Answer:
        return api.post("/api/pause", {"action": "Deploy", **fields}, key=tenant["apiKey"])

    return post


@pytest.fixture
def make_pause(pause_request: Callable[..., Answer]) -> Callable[..., dict[str, Any]]:
    """``make_pause(tenant, **fields)``: a pause the tenant's agent created (201), as the API
    answered it (``watchId``, ``status``, ``statusUrl``, …)."""

    def make(tenant: dict[str, Any], **fields: Any) -> dict[str, Any]:
        created = pause_request(tenant, **fields)
        assert created.status == 201, created.body
        pause: dict[str, Any] = created.json()
        return pause

    return make


@pytest.fixture
def make_notified_pause(cloud: Cloud, make_pause: Callable[..., dict[str, Any]]) -> Callable[..., str]:
    """``make_notified_pause(tenant, **fields)``: ``make_pause``, then its approval emails sent as
    the queues would have them sent (one fan-out, one email per approver of the pause); its watchId."""

    def make(tenant: dict[str, Any], **fields: Any) -> str:
        watch_id: str = make_pause(tenant, **fields)["watchId"]
        approvers = fields.get("approvers", tenant["approvers"])
        assert cloud.run_queue("notify") == 1  # the fan-out
        assert cloud.run_queue("email") == len(approvers)  # one work item per approver
        return watch_id

    return make
