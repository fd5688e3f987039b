"""What the HTTP layer makes of a body before any route sees it."""

from __future__ import annotations

import base64

import pytest
from aws_lambda_powertools.event_handler.openapi.exceptions import RequestValidationError

from hitl.domain import errors
from hitl.http import json_body


def event(body, content_type=None, encoded=False):
    headers = {"content-type": content_type} if content_type is not None else {}
    return {"body": body, "headers": headers, "isBase64Encoded": encoded}


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json; charset=utf-8", "Application/JSON; Charset=UTF-8"]
)
def test_json_passes(content_type):
    assert json_body.screen(event('{"a": 1}', content_type)) is None


def test_no_body_passes_whatever_the_type():
    assert json_body.screen(event(None, "text/plain")) is None
    assert json_body.screen(event("", "text/plain")) is None


@pytest.mark.parametrize(
    ("content_type", "hint"),
    [
        ("text/plain", False),
        ("application/xml", False),
        ("application/json; charset=latin-1", False),
        ("application/jsonx", False),
        ("application/x-www-form-urlencoded", True),
        ("multipart/form-data; boundary=x", True),
        (None, True),
    ],
)
def test_anything_else_is_unsupported_media(content_type, hint):
    problem = json_body.screen(event('{"a": 1}', content_type))
    assert isinstance(problem, json_body.UnsupportedMediaType)
    assert problem.code == "unsupported_media_type"
    assert problem.details == {"expected": "application/json", "received": content_type}
    assert ("-H 'Content-Type: application/json'" in problem.message) is hint


def test_base64_json_must_be_utf8():
    good = base64.b64encode('{"a": "ü"}'.encode()).decode()
    assert json_body.screen(event(good, "application/json", encoded=True)) is None
    bad = base64.b64encode(b'{"a": "\xff"}').decode()
    problem = json_body.screen(event(bad, "application/json", encoded=True))
    assert isinstance(problem, errors.BadRequest) and problem.code == "malformed_json"


def test_loads_parses_json():
    assert json_body.loads('{"a": [1, 2.5, "x", null]}') == {"a": [1, 2.5, "x", None]}


@pytest.mark.parametrize(
    ("text", "kind"),
    [("[" * 10_000 + "]" * 10_000, "json_too_deep"), ('{"n": ' + "1" * 5000 + "}", "json_number_too_long")],
)
def test_loads_refuses_what_python_cannot_hold(text, kind):
    with pytest.raises(RequestValidationError) as refused:
        json_body.loads(text)
    assert [e["type"] for e in refused.value.errors()] == [kind]


def test_loads_leaves_syntax_errors_to_powertools():
    import json

    with pytest.raises(json.JSONDecodeError):
        json_body.loads('{"a": ')
