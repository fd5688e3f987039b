"""What an agent may send, with the limits of DESIGN.md.  The HTTP layer validates bodies with these."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_CONTEXT_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 24 * 3600
MAX_TIMEOUT_S = 30 * 24 * 3600
MAX_APPROVERS = 50

Short = Annotated[str, StringConstraints(max_length=200)]


class CreatePauseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    action: str = Field(min_length=1, max_length=2000, description="What the agent wants to do")
    context: dict[str, Any] = Field(
        default_factory=dict, description="Anything that helps the approver decide (≤ 64 KiB as JSON)"
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

    @field_validator("action")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str
    comment: str | None = Field(default=None, max_length=2000)
