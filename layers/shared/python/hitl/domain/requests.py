"""What an agent may send, with the limits of DESIGN.md.  The HTTP layer validates bodies with these."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

MAX_CONTEXT_BYTES = 64 * 1024
DEFAULT_TIMEOUT_S = 24 * 3600
MAX_TIMEOUT_S = 30 * 24 * 3600
#: fields of DESIGN.md that later steps implement; a create that uses one is refused, never ignored
NOT_YET_SUPPORTED = ("approvers", "requiredApprovals", "onTimeout", "callbackUrl", "remindAfterSeconds")

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
    approvers: Any = Field(default=None, description="Not yet supported")
    requiredApprovals: Any = Field(default=None, description="Not yet supported")
    onTimeout: Any = Field(default=None, description="Not yet supported")
    callbackUrl: Any = Field(default=None, description="Not yet supported")
    remindAfterSeconds: Any = Field(default=None, description="Not yet supported")

    @field_validator("action")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    def unsupported(self) -> list[str]:
        return [name for name in NOT_YET_SUPPORTED if name in self.model_fields_set]


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, max_length=2000)


class DecideRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: str
    comment: str | None = Field(default=None, max_length=2000)
