"""Schemathesis against the running local stack, from the OpenAPI document the stack serves.

Every operation of ``GET /api/openapi.json`` gets generated requests — valid ones, and the
coverage phase's invalid ones (missing and out-of-range fields, wrong types, undeclared content
types) — and every answer must be documented: no 5xx (``not_a_server_error``, which also wants
``415`` for an undeclared ``Content-Type``), a status the operation lists
(``status_code_conformance``), the documented media type (``content_type_conformance``) and a
body that matches the status's schema (``response_schema_conformance``).

Bounded and repeatable: a fixed seed, derandomized generation, a few examples per operation, no
example database.  It runs as a tenant of its own (pro: no quota in the way), so what it creates,
rotates or deletes never meets the other tests' tenant.  One adjustment, visible here: a
long-poll of 2–25 s is shortened to 1 s (``wait`` stays in range, so the case keeps its
meaning); the long-poll itself is tested by the agent-flow tests.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.e2e

DOCUMENT = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"

SEED = 20261202
#: examples per operation in the fuzzing phase (the coverage phase adds its own, a bounded set)
MAX_EXAMPLES = 10
#: stateful scenarios, and the most requests in one
SCENARIOS = 10
STEPS = 6
#: a long-poll longer than this is shortened to it
LONGEST_WAIT_S = 1
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="session")
def fuzzed_tenant(stack: Any) -> dict[str, Any]:
    tenant: dict[str, Any] = stack.admin(
        "create-tenant", "schemathesis", "--plan", "pro", "--approver", "fuzz@example.com"
    )
    return tenant


CONFIG = SchemathesisConfig.from_dict(
    {
        "seed": SEED,
        "request-timeout": 10,
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
        # the document has no examples; the stateful phase's links are inferred from the schemas
        "phases": {"examples": {"enabled": False}, "stateful": {"enabled": True, "max-steps": STEPS}},
    }
)
#: the committed document, which the stack must serve byte for byte (first test below); loaded at
#: import because schemathesis' lazy ``from_fixture`` does not run under pytest 9 (``_nodeid``)
schema = schemathesis.openapi.from_path(DOCUMENT, config=CONFIG)


def test_the_stack_serves_the_committed_document(stack: Any) -> None:
    served = stack.http().get("/api/openapi.json")
    assert served.status == 200
    assert served.json() == json.loads(DOCUMENT.read_text())


@schema.parametrize()
@settings(deadline=None, database=None, suppress_health_check=list(HealthCheck))
def test_every_answer_is_documented(case: Any, stack: Any, fuzzed_tenant: dict[str, Any]) -> None:
    _shorten_long_polls(case)
    case.call_and_validate(
        base_url=stack.url, headers={"Authorization": f"Bearer {fuzzed_tenant['apiKey']}"}, checks=CHECKS
    )


def _shorten_long_polls(case: Any) -> None:
    wait = (case.query or {}).get("wait")
    if isinstance(wait, int) and not isinstance(wait, bool) and LONGEST_WAIT_S < wait <= 25:
        case.query["wait"] = LONGEST_WAIT_S


def test_flows_through_the_links_answer_as_documented(stack: Any, fuzzed_tenant: dict[str, Any]) -> None:
    """Scenarios along the links schemathesis infers (create → read → cancel, register → patch →
    delete, …): the only way its requests reach a pause or webhook that exists."""
    headers = {"Authorization": f"Bearer {fuzzed_tenant['apiKey']}"}

    class Flows(schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"base_url": stack.url, "headers": headers}

        def before_call(self, case: Any) -> None:
            _shorten_long_polls(case)

        def validate_response(self, response: Any, case: Any, additional_checks: Any = None, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs)

    Flows.run(
        settings=settings(
            max_examples=SCENARIOS,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
