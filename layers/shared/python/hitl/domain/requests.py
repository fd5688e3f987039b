"""What an agent may send, with the limits of DESIGN.md.  The HTTP layer validates bodies with these."""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_CONTEXT_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 24 * 3600
MAX_TIMEOUT_S = 30 * 24 * 3600
MAX_APPROVERS = 50
#: levels of objects and arrays in ``context`` (the context object itself is the first): what
#: every reader, the email renderer and the serializers handle with room to spare
MAX_CONTEXT_DEPTH = 32

Short = Annotated[str, StringConstraints(max_length=200)]
Value = TypeVar("Value")


def storable_json(value: Value, name: str, max_depth: int = MAX_CONTEXT_DEPTH) -> Value:
    """``value`` when it is JSON we can store, show, digest and send back exactly as given:
    at most ``max_depth`` levels deep, finite numbers only (``NaN``, ``Infinity`` or ``1e400``
    would come back as ``null`` and no longer match ``actionDigest``), strings that are
    Unicode (no lone surrogates such as ``"\\udfff"``).  Else ``ValueError`` naming where."""
    pending: list[tuple[Any, int, str]] = [(value, 1, name)]
    while pending:
        node, depth, where = pending.pop()
        if isinstance(node, dict | list):
            if depth > max_depth:
                raise ValueError(f"{where} nests objects and arrays deeper than {max_depth} levels")
            items = node.items() if isinstance(node, dict) else enumerate(node)
            for key, child in items:
                if isinstance(key, str):
                    _unicode(key, f"a key in {where}")
                    pending.append((child, depth + 1, f"{where}.{key}"))
                else:
                    pending.append((child, depth + 1, f"{where}[{key}]"))
        elif isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"{where} is not a finite number (NaN, Infinity and overflowing numbers are refused)")
        elif isinstance(node, str):
            _unicode(node, where)
    return value


def _unicode(text: str, where: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(f"{where} is not valid Unicode (a lone surrogate such as \\udfff)") from None


class CreatePauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built by the first request of its route

    action: str = Field(min_length=1, max_length=2000, description="What the agent wants to do")
    context: dict[str, Any] = Field(
        default_factory=dict,
        description=(
            f"Anything that helps the approver decide (≤ 64 KiB as JSON, ≤ {MAX_CONTEXT_DEPTH} levels deep,"
            " finite numbers only)"
        ),
    )
    requestedBy: str | None = Field(default=None, min_length=1, max_length=200)
    metadata: dict[Short, Short] = Field(default_factory=dict, max_length=20)
    timeoutSeconds: int = Field(default=DEFAULT_TIMEOUT_S, ge=1, le=MAX_TIMEOUT_S)
    approvers: list[Annotated[str, StringConstraints(min_length=3, max_length=254)]] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_APPROVERS,
        description="Who may decide: confirmed approvers of the tenant (default: all of them)",
    )
    requiredApprovals: int | None = Field(
        default=None, ge=1, le=MAX_APPROVERS, description="How many named approvers must approve (default 1)"
    )
    onTimeout: Literal["reject", "approve"] | None = Field(
        default=None, description="What the timeout decides (default reject: status expired)"
    )
    callbackUrl: str | None = Field(
        default=None,
        min_length=8,
        max_length=2048,
        description="An https URL that receives this pause's terminal event, signed with the callback secret",
    )
    remindAfterSeconds: int | None = Field(
        default=None,
        ge=60,
        le=MAX_TIMEOUT_S,
        description="Remind the approvers who have not decided, once, after this many seconds",
    )

    @field_validator("context")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        return storable_json(value, "context")

    @field_validator("action")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built by the first request of its route
    reason: str | None = Field(default=None, max_length=2000)


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)  # built by the first request of its route
    decision: str
    comment: str | None = Field(default=None, max_length=2000)
