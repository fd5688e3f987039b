"""The create model refuses JSON it could not store, show and digest exactly as given."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from hitl.domain.requests import MAX_CONTEXT_DEPTH, CreatePauseRequest


def nested(levels):
    value: dict = {}
    for _ in range(levels - 1):
        value = {"k": value}
    return value


def refusal(context):
    with pytest.raises(ValidationError) as refused:
        CreatePauseRequest.model_validate({"action": "x", "context": context})
    (error,) = refused.value.errors()
    assert error["loc"] == ("context",)
    return error["msg"]


def test_depth_up_to_the_bound_is_accepted():
    assert CreatePauseRequest.model_validate({"action": "x", "context": nested(MAX_CONTEXT_DEPTH)})


def test_one_level_more_is_refused_at_its_path():
    message = refusal(nested(MAX_CONTEXT_DEPTH + 1))
    assert f"deeper than {MAX_CONTEXT_DEPTH} levels" in message
    assert "context" + ".k" * MAX_CONTEXT_DEPTH in message


def test_a_very_deep_context_is_refused_without_recursing():
    assert "deeper than" in refusal(nested(50_000))


@pytest.mark.parametrize("number", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_numbers_are_refused(number):
    assert "context.rows[0].x is not a finite number" in refusal({"rows": [{"x": number}]})


@pytest.mark.parametrize(("context", "where"), [({"a": "\udfff"}, "context.a"), ({"\ud800": 1}, "a key in context")])
def test_lone_surrogates_are_refused(context, where):
    assert f"{where} is not valid Unicode" in refusal(context)


def test_ordinary_json_is_kept_as_given():
    context = {"f": 1.5, "i": 10**30, "b": True, "n": None, "s": "😀", "l": [1, {"x": []}]}
    assert CreatePauseRequest.model_validate({"action": "x", "context": context}).context == context
