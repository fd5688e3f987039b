"""The response types describe exactly what the domain's views are, and the OpenAPI document
shows them with every status a route answers."""

from __future__ import annotations

import json
from typing import Any, get_args

import api_handler
import pytest
from aws_lambda_powertools.event_handler import Response
from aws_lambda_powertools.event_handler.api_gateway import Router
from pydantic import TypeAdapter, ValidationError

from hitl.domain.models import STATUSES, PauseBody, PauseHead, Status, pause_summary, pause_view
from hitl.http import openapi, responses
from hitl.http.app import build_app
from hitl.webhooks.models import EVENT_TYPES, Delivery, Endpoint, endpoint_view

AT = "2026-11-24T11:00:00.000Z"
LATER = "2026-11-24T12:00:00.000Z"
DIGEST = "ab" * 32


def head(**changes: Any) -> PauseHead:
    values: dict[str, Any] = {
        "watchId": "w_abc123",
        "tenantId": "t_1",
        "status": "pending",
        "action": "Deploy",
        "requestedBy": "agent",
        "createdAt": AT,
        "expiresAt": LATER,
        "actionDigest": DIGEST,
        "policy": {"approvers": ["ann@x.test"], "requiredApprovals": 1, "onTimeout": "reject"},
    }
    values.update(changes)
    return PauseHead.model_validate(values)


DECIDED = head(
    status="approved",
    decidedAt=LATER,
    decision={"outcome": "approved", "by": "ann@x.test", "channel": "email", "comment": "ok", "at": LATER},
    approvals=[{"by": "ann@x.test", "channel": "email", "decision": "approved", "comment": None, "at": LATER}],
    notifications=[{"to": "bob@x.test", "channel": "email", "status": "failed"}],
    callbackUrl="https://example.com/hook",
    remindAt="2026-11-24T11:30:00.000Z",
    reminded=True,
    version=3,
)
BODY = PauseBody(context={"env": "prod", "nested": [1, {"a": None}]}, metadata={"ticket": "OPS-1"})


def round_trip(body: type[Any], shown: dict[str, Any]) -> dict[str, Any]:
    """What powertools sends for ``shown`` when the route returns ``Response[body]``."""
    adapter = TypeAdapter(body)
    dumped: dict[str, Any] = adapter.dump_python(adapter.validate_python(shown), mode="json", by_alias=True)
    return dumped


@pytest.mark.parametrize("pause", [head(), DECIDED], ids=["pending", "decided, with every optional field"])
def test_the_pause_views_pass_their_models_unchanged(pause):
    # nothing added (no null for an omitted field), nothing dropped, nothing refused
    assert round_trip(responses.Pause, pause_view(pause, BODY)) == pause_view(pause, BODY)
    assert round_trip(responses.PauseState, pause_view(pause, None)) == pause_view(pause, None)
    assert round_trip(responses.PauseSummary, pause_summary(pause)) == pause_summary(pause)


def test_an_omitted_field_stays_omitted():
    shown = round_trip(responses.Pause, pause_view(head(), BODY))
    assert not {"notifications", "callbackUrl", "remindAt"} & set(shown)


def test_a_field_the_models_do_not_know_is_refused():
    with pytest.raises(ValidationError, match="tenantId"):
        TypeAdapter(responses.PauseState).validate_python({**pause_view(head(), None), "tenantId": "t_1"})


def test_the_webhook_views_pass_their_models_unchanged():
    endpoint = Endpoint(
        webhookId="wh_abc", tenantId="t_1", url="https://example.com/h", events=["pause.approved"], createdAt=AT
    )
    shown = endpoint_view(endpoint)
    assert round_trip(responses.Webhook, shown) == shown
    registered = {**shown, "secret": "whsec_c2VjcmV0"}
    assert round_trip(responses.RegisteredWebhook, registered) == registered
    delivery = Delivery(
        deliveryId="dlv_1",
        tenantId="t_1",
        webhookId="callback",
        eventId="evt_1",
        type="pause.approved",
        watchId="w_abc",
        attempt=1,
        at=AT,
        url="https://example.com/h",
        latencyMs=12,
        status="retrying",
    ).view()
    assert round_trip(responses.Delivery, delivery) == delivery


def test_the_documented_enums_are_the_domains():
    assert get_args(responses.EventType) == EVENT_TYPES
    assert get_args(Status) == STATUSES


def test_an_error_body_leaves_out_absent_details():
    assert round_trip(responses.ErrorBody, {"error": {"code": "x", "message": "y"}}) == {
        "error": {"code": "x", "message": "y"}
    }


# --- the document ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return openapi.document(api_handler.app)


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, op) for path, ops in document["paths"].items() for method, op in ops.items()]


def test_every_error_status_has_our_error_shape(document):
    for method, path, operation in operations(document):
        for status, answer in operation["responses"].items():
            if int(status) >= 400:
                schema = answer["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (method, path, status)


def test_every_success_has_a_described_body(document):
    for method, path, operation in operations(document):
        successes = {s: a for s, a in operation["responses"].items() if int(s) < 300}
        assert successes, (method, path)
        if path == "/api/openapi.json":
            continue
        for status, answer in successes.items():
            ref = answer["content"]["application/json"]["schema"]["$ref"]
            assert document["components"]["schemas"][ref.rsplit("/", 1)[1]]["additionalProperties"] is False, (
                method,
                path,
                status,
            )


def test_only_the_open_bodies_are_open(document):
    """``additionalProperties: true`` only where the API passes JSON through (what the agent sent)."""
    open_fields = []
    for name, schema in document["components"]["schemas"].items():
        for field, spec in schema.get("properties", {}).items():
            if spec.get("additionalProperties") is True or any(
                s.get("additionalProperties") is True for s in spec.get("anyOf", [])
            ):
                open_fields.append(f"{name}.{field}")
    assert sorted(open_fields) == [
        "AuditEntry.details",
        "CreatePauseRequest.context",
        "ErrorDetail.details",
        "Pause.context",
    ]


def test_powertools_own_shapes_are_not_documented(document):
    text = json.dumps(document)
    for name in openapi.FOREIGN_SCHEMAS:
        assert f"/{name}" not in text
        assert name not in document["components"]["schemas"]


def test_every_route_that_needs_a_key_documents_401(document):
    for method, path, operation in operations(document):
        if path == "/api/openapi.json":
            assert operation["security"] == []
            assert set(operation["responses"]) == {"200"}
        else:
            assert "401" in operation["responses"], (method, path)


def test_routes_with_a_json_body_document_415(document):
    with_body = [(m, p) for m, p, op in operations(document) if "requestBody" in op]
    assert len(with_body) == 5  # create, cancel, register and change a webhook, the dashboard's decision
    for method, path, operation in operations(document):
        if "requestBody" in operation:
            assert "415" in operation["responses"], (method, path)


def test_create_documents_its_headers(document):
    answers = document["paths"]["/api/pause"]["post"]["responses"]
    assert set(answers["201"]["headers"]) == {"Location"}
    assert set(answers["200"]["headers"]) == {"Idempotent-Replayed"}


# --- a route whose answer does not match its model ------------------------------------------------


def http_event(path: str) -> dict[str, Any]:
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {},
        "requestContext": {"http": {"method": "GET", "path": path, "sourceIp": "127.0.0.1"}, "stage": "$default"},
        "isBase64Encoded": False,
    }


def test_an_answer_that_breaks_its_model_is_our_bug_not_the_callers():
    router = Router()

    @router.get("/api/openapi.json", custom_response_validation_http_code=responses.MISMATCH)
    def drifted() -> Response[responses.Deleted]:
        return Response(200, "application/json", {"deleted": "wh_1", "surprise": True})

    answer = build_app([router]).resolve(http_event("/api/openapi.json"), None)
    assert answer["statusCode"] == 500
    assert json.loads(answer["body"])["error"]["code"] == "internal_error"
