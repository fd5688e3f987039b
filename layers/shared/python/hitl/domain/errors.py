"""Typed domain errors.  The HTTP layer maps each class to a status; nothing matches on message text."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    code = "error"

    def __init__(self, message: str, *, details: dict[str, Any] | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code:
            self.code = code


class BadRequest(DomainError):
    code = "bad_request"


class Unauthorized(DomainError):
    code = "unauthorized"


class QuotaExceeded(DomainError):
    code = "quota_exceeded"


class PlanRequired(DomainError):
    """What was asked is part of another plan (402): an audit export, team events."""

    code = "plan_required"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class Gone(DomainError):
    code = "gone"


class PayloadTooLarge(DomainError):
    code = "payload_too_large"


class Unprocessable(DomainError):
    code = "validation_error"


class TooManyWaits(DomainError):
    code = "too_many_waits"


class Forbidden(DomainError):
    code = "forbidden"


class TooManyRequests(DomainError):
    code = "rate_limited"


class NotAMember(Gone):
    """An emailed link of someone who is no longer a confirmed member of the pause's team."""

    code = "not_a_member"
