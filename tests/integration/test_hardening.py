"""Requests that are not well formed get a 4xx in our error shape, never a 500 — through the
real handlers, as API Gateway calls them."""

from __future__ import annotations

import base64
import importlib
import json
import re

import pytest

from hitl import runtime
from hitl_local import apigw
from hitl_local.receiver import receiver
from tests.client import in_process

MEDIA_PROBES = ["text/plain", "application/xml", "application/x-www-form-urlencoded", "multipart/form-data", ""]


def error_of(response, status):
    assert response.status == status, response.body
    assert response.headers["content-type"] == "application/json"
    error = response.json()["error"]
    assert set(error) <= {"code", "message", "details"} and error["message"]
    return error


def post_raw(api, path, raw, content_type, key):
    """POST ``raw`` as API Gateway hands it to the function; ``content_type=None``: no
    Content-Type header at all (the ``api`` client adds JSON's to every body)."""
    headers = {"content-type": content_type} if content_type is not None else {}
    if key:
        headers["authorization"] = f"Bearer {key}"
    return in_process("POST", path, "", headers, raw)


def deep(levels, leaf=1):
    """An object nested ``levels`` deep (itself the first level)."""
    value = {"v": leaf}
    for _ in range(levels - 1):
        value = {"n": value}
    return value


# --- content types --------------------------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/xml", "text/plain; charset=utf-8"])
def test_a_body_in_another_media_type_is_415_naming_json(api, team, content_type):
    body = json.dumps({"action": "Deploy"}).encode()
    error = error_of(post_raw(api, "/api/pause", body, content_type, team["apiKey"]), 415)
    assert error["code"] == "unsupported_media_type"
    assert "application/json" in error["message"]
    assert error["details"] == {"expected": "application/json", "received": content_type}


@pytest.mark.parametrize("content_type", ["application/x-www-form-urlencoded", None])
def test_json_sent_as_curl_d_sends_it_is_415_with_the_header_to_add(api, team, content_type):
    """curl -d without -H sends application/x-www-form-urlencoded (today a baffling
    'Extra inputs are not permitted'); no content type at all is answered the same."""
    body = json.dumps({"action": "Deploy"}).encode()
    error = error_of(post_raw(api, "/api/pause", body, content_type, team["apiKey"]), 415)
    assert error["code"] == "unsupported_media_type"
    assert "-H 'Content-Type: application/json'" in error["message"]


def test_a_form_that_would_validate_is_refused_too(api, team, make_pause):
    """A form body is never read as if it were the JSON (``reason=x`` would cancel)."""
    watch_id = make_pause(team)["watchId"]
    refused = post_raw(
        api, f"/api/pause/{watch_id}/cancel", b"reason=x", "application/x-www-form-urlencoded", team["apiKey"]
    )
    assert error_of(refused, 415)["code"] == "unsupported_media_type"
    assert api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()["status"] == "pending"


def test_json_with_a_utf8_charset_is_json(api, team):
    body = json.dumps({"action": "Deploy", "context": {"s": "ü"}}).encode()
    created = post_raw(api, "/api/pause", body, "application/json; charset=utf-8", team["apiKey"])
    assert created.status == 201, created.body


def test_json_in_another_charset_or_not_utf8_is_refused(api, team):
    body = json.dumps({"action": "Deploy"}).encode()
    latin = post_raw(api, "/api/pause", body, "application/json; charset=latin-1", team["apiKey"])
    assert error_of(latin, 415)["code"] == "unsupported_media_type"
    # a JSON body API Gateway handed over base64-encoded, that is not UTF-8
    request = apigw.Request("POST", "/api/pause", "", {"authorization": f"Bearer {team['apiKey']}"}, b"")
    event = apigw.to_event(request, *apigw.match_route("POST", "/api/pause"))
    event.update(body=base64.b64encode(b'{"action": "Deploy \xff"}').decode(), isBase64Encoded=True)
    event["headers"]["content-type"] = "application/json"
    module = importlib.import_module("api_handler")
    answer = apigw.from_result(module.lambda_handler(event, apigw.LambdaContext(function_name="api")))
    assert error_of(answer, 400)["code"] == "malformed_json"


@pytest.mark.parametrize("content_type", [*MEDIA_PROBES, None])
def test_without_a_key_a_bad_body_is_401_first(api, content_type):
    """Nothing about a request is judged before who sent it."""
    answer = post_raw(api, "/api/pause", b'{"action": "x"}', content_type, "")
    assert error_of(answer, 401)["code"] == "missing_api_key"
    wrong = post_raw(api, "/api/pause", b'{"action": "x"}', content_type, "hitl_" + "A" * 36)
    assert error_of(wrong, 401)["code"] == "invalid_api_key"


def test_a_route_that_reads_no_body_ignores_its_media_type(api, team):
    rotated = post_raw(api, "/api/callback-secret/rotate", b"anything", "text/plain", team["apiKey"])
    assert rotated.status == 200, rotated.body


# --- JSON that parses but cannot be stored as given --------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"action": "x", "context": {"a": NaN}}', "context"),
        (b'{"action": "x", "context": {"a": [Infinity]}}', "context"),
        (b'{"action": "x", "context": {"a": -Infinity}}', "context"),
        (b'{"action": "x", "context": {"a": {"b": 1e400}}}', "context"),
        (b'{"action": "x", "timeoutSeconds": NaN}', "timeoutSeconds"),
    ],
)
def test_non_finite_numbers_are_422_naming_the_field(api, team, raw, field):
    """Today NaN, Infinity and 1e400 are stored and shown as null: actionDigest no longer
    matches what is shown."""
    error = error_of(post_raw(api, "/api/pause", raw, "application/json", team["apiKey"]), 422)
    assert error["code"] == "validation_error"
    assert [e["field"] for e in error["details"]["errors"]] == [field]
    assert api.get("/api/pause", key=team["apiKey"]).json()["items"] == []


def test_the_path_of_a_non_finite_number_is_named(api, team):
    raw = b'{"action": "x", "context": {"rows": [1, {"price": NaN}]}}'
    error = error_of(post_raw(api, "/api/pause", raw, "application/json", team["apiKey"]), 422)
    assert "context.rows[1].price" in error["details"]["errors"][0]["problem"]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (b'{"action": "x", "context": {"a": "\\udfff"}}', "context"),
        (b'{"action": "x", "context": {"\\ud800": 1}}', "context"),
        (b'{"action": "x", "context": {"a": ["ok", "\\ud83d"]}}', "context"),
        (b'{"action": "\\udfff"}', "action"),
        (b'{"action": "x", "metadata": {"k": "\\udfff"}}', "metadata.k"),
    ],
)
def test_lone_surrogates_are_422_naming_the_field(api, team, raw, field):
    error = error_of(post_raw(api, "/api/pause", raw, "application/json", team["apiKey"]), 422)
    assert error["code"] == "validation_error"
    assert [e["field"] for e in error["details"]["errors"]] == [field]


def test_a_surrogate_pair_is_one_character_and_kept(api, team):
    raw = b'{"action": "x", "context": {"emoji": "\\ud83d\\ude00"}}'
    created = post_raw(api, "/api/pause", raw, "application/json", team["apiKey"])
    assert created.status == 201, created.body
    shown = api.get(f"/api/pause/{created.json()['watchId']}", key=team["apiKey"]).json()
    assert shown["context"] == {"emoji": "😀"}


def test_an_integer_beyond_pythons_digit_limit_is_422(api, team):
    raw = b'{"action": "x", "context": {"n": ' + b"9" * 5000 + b"}}"
    error = error_of(post_raw(api, "/api/pause", raw, "application/json", team["apiKey"]), 422)
    assert error["code"] == "validation_error"
    assert "too long" in error["details"]["errors"][0]["problem"]


def test_a_long_integer_within_the_limit_is_kept_exactly(api, team, make_pause):
    number = int("7" * 4000)
    created = make_pause(team, context={"n": number})
    assert api.get(f"/api/pause/{created['watchId']}", key=team["apiKey"]).json()["context"]["n"] == number


@pytest.mark.parametrize("opener", [b"[", b'{"a":'])
def test_ten_thousand_levels_of_nesting_are_422_not_a_recursion_error(api, team, opener):
    closer = b"]" if opener == b"[" else b"}"
    raw = b'{"action": "x", "context": {"a": ' + opener * 10_000 + b"1" + closer * 10_000 + b"}}"
    error = error_of(post_raw(api, "/api/pause", raw, "application/json", team["apiKey"]), 422)
    assert error["code"] == "validation_error"


def test_malformed_json_is_still_400(api, team):
    error = error_of(post_raw(api, "/api/pause", b'{"action": ', "application/json", team["apiKey"]), 400)
    assert error["code"] == "malformed_json"


# --- the nesting depth of context and metadata (A3) ---------------------------------------------


@pytest.mark.parametrize("levels", [33, 260, 600])
def test_a_context_deeper_than_32_levels_is_422_naming_context(api, team, levels, pause_request):
    answer = pause_request(team, action="x", context=deep(levels))
    error = error_of(answer, 422)
    assert error["code"] == "validation_error"
    assert [e["field"] for e in error["details"]["errors"]] == ["context"]
    assert "32 levels" in error["details"]["errors"][0]["problem"]
    assert api.get("/api/pause", key=team["apiKey"]).json()["items"] == []


def test_arrays_count_as_levels_too(api, team, pause_request):
    context: dict = {"a": []}
    inner = context["a"]
    for _ in range(31):  # the context, then 32 arrays: 33 levels
        inner.append([])
        inner = inner[0]
    error = error_of(pause_request(team, action="x", context=context), 422)
    assert [e["field"] for e in error["details"]["errors"]] == ["context"]


def test_metadata_is_flat(api, team, pause_request):
    answer = pause_request(team, action="x", metadata={"k": {"nested": "v"}})
    error = error_of(answer, 422)
    assert [e["field"] for e in error["details"]["errors"]] == ["metadata.k"]


def test_a_32_level_context_is_read_listed_emailed_shown_and_delivered(api, cloud, team, monkeypatch, make_pause):
    monkeypatch.setenv("HITL_WEBHOOK_ALLOW_LOOPBACK", "true")
    monkeypatch.setenv("HITL_WEBHOOK_RETRY_SCALE", "0")
    runtime.reset()
    context = deep(32, leaf="the deepest value")
    key = team["apiKey"]
    with receiver() as hook:
        registered = api.post("/api/webhooks", {"url": hook.url, "events": ["pause.approved"]}, key=key)
        assert registered.status == 201, registered.body
        watch_id = make_pause(team, context=context)["watchId"]

        shown = api.get(f"/api/pause/{watch_id}", key=key)
        assert shown.status == 200 and shown.json()["context"] == context
        waited = api.get(f"/api/pause/{watch_id}", query={"wait": 0}, key=key)
        assert waited.status == 200
        assert api.get("/api/pause", key=key).json()["items"][0]["watchId"] == watch_id

        assert cloud.run_queue("notify") == 1
        assert cloud.run_queue("email") == 2  # one email per approver
        email = next(e for e in cloud.sent_emails() if str(e["To"]) == "ann@x.test")
        text = email.get_body(preferencelist=("plain",)).get_content()
        assert "the deepest value" in text
        token = re.findall(r"/a/([A-Za-z0-9_-]{43})/approve", text)[0]

        page = api.get(f"/a/{token}/approve")
        assert page.status == 200 and "the deepest value" in page.body.decode()
        decided = api.call(
            "POST",
            f"/a/{token}",
            raw=b"decision=approved",
            headers={"content-type": "application/x-www-form-urlencoded"},
        )
        assert decided.status == 200, decided.body
        for _ in range(3):
            cloud.run_queue("webhooks")
            cloud.run_queue("deliveries")
        assert [json.loads(r.body)["type"] for r in hook.received] == ["pause.approved"]
    audit = api.get("/api/audit", query={"watchId": watch_id}, key=key)
    assert audit.status == 200 and len(audit.json()["items"]) >= 2


# --- the link pages' form ------------------------------------------------------------------------


def test_a_link_post_with_more_fields_than_the_form_has_is_a_400_page(api):
    """No token needed to reach the parser: today a 500 'Max number of fields exceeded'."""
    fields = "&".join(f"f{i}=1" for i in range(1000)).encode()
    answer = api.call(
        "POST", "/a/" + "A" * 43, raw=fields, headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert answer.status == 400
    assert answer.headers["content-type"].startswith("text/html")
    assert "The form could not be read" in answer.body.decode()
    assert answer.headers["cache-control"] == "no-store"


# --- paths ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/pause/"),
        ("POST", "/api/pause/"),
        ("GET", "/api/audit/"),
        ("GET", "/api/pause/w_x/"),
        ("POST", "/api/pause/w_x/cancel/"),
        ("GET", "/api/webhooks/"),
    ],
)
def test_a_trailing_slash_is_404_route_not_found_not_a_self_contradicting_405(api, team, method, path):
    answer = api.call(method, path, key=team["apiKey"])
    error = error_of(answer, 404)
    assert error["code"] == "route_not_found"
    assert "allow" not in answer.headers


def test_a_trailing_slash_on_a_link_is_the_pages_own_404_page(api):
    answer = api.get("/a/" + "A" * 43 + "/approve/")
    assert answer.status == 404
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.headers["cache-control"] == "no-store"


def test_another_method_on_a_known_path_is_still_405_with_allow(api, team):
    answer = api.call("DELETE", "/api/pause", key=team["apiKey"])
    assert error_of(answer, 405)["code"] == "method_not_allowed"
    assert answer.headers["allow"] == "GET, POST"


# --- approve with an API key (A7) ----------------------------------------------------------------


#: bodies an approve request may carry: none is looked at before the session is (one pause for
#: them all: each answer is checked to have changed nothing)
APPROVE_BODIES = [
    (b"", None),
    (b"", "application/json"),
    (b"{}", "application/json"),
    (b'{"decision": "approved"}', "application/json"),
    (b'{"decision": "maybe", "extra": 1}', "application/json"),
    (b"{not json", "application/json"),
    (b"decision=approved", "application/x-www-form-urlencoded"),
    (b"<x/>", "application/xml"),
]


@pytest.mark.parametrize("with_key", [True, False])
def test_approve_is_401_whatever_the_body(api, team, with_key, make_pause):
    watch_id = make_pause(team)["watchId"]
    for raw, content_type in APPROVE_BODIES:
        answer = post_raw(api, f"/api/pause/{watch_id}/approve", raw, content_type, team["apiKey"] if with_key else "")
        if content_type == "application/x-www-form-urlencoded" and not with_key:
            # a signed-out browser's form: the page says to sign in
            assert answer.status == 401 and "Sign in first" in answer.text, raw
        else:
            assert error_of(answer, 401)["code"] == "dashboard_session_required", raw
        assert api.get(f"/api/pause/{watch_id}", key=team["apiKey"]).json()["status"] == "pending", raw


# --- the OpenAPI document ------------------------------------------------------------------------


def test_the_document_still_describes_the_wait_route_and_serving_it_changes_nothing(api, team, make_pause):
    """The API function no longer serves GET /api/pause/{watchId} (the wait function does);
    its document still describes it, and building the document leaves the API serving."""
    document = api.get("/api/openapi.json")
    assert document.status == 200
    paths = document.json()["paths"]
    assert "get" in paths["/api/pause/{watchId}"]
    assert "requestBody" in paths["/api/pause/{watchId}/approve"]["post"]  # the dashboard's decision
    created = make_pause(team)
    cancelled = api.post(f"/api/pause/{created['watchId']}/cancel", {"reason": "r"}, key=team["apiKey"])
    assert cancelled.status == 200, cancelled.body
