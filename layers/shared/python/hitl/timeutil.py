"""Timezone-aware UTC times, written as RFC 3339 with milliseconds and ``Z``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def month_key(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m")


__all__ = ["UTC", "datetime", "epoch", "iso", "month_key", "now", "parse", "timedelta"]
