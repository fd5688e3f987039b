"""What only the local stack sets: the compressed webhook retry schedule, loopback webhooks, and
each function's environment (no running stack needed)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from hitl import wiring
from hitl.settings import Settings
from hitl.webhooks.models import MAX_ATTEMPTS, RETRY_SCHEDULE_S, retry_delay
from hitl_local import resources
from hitl_local.server import (
    DEFAULT_WEBHOOK_RETRY_SCALE,
    WEBHOOK_RETRY_WINDOW_S,
    LocalStack,
    Options,
    parse_options,
)


def test_the_default_scale_puts_every_retry_within_about_a_minute():
    delays = [retry_delay(attempt, DEFAULT_WEBHOOK_RETRY_SCALE) for attempt in range(1, MAX_ATTEMPTS)]

    assert len(delays) == len(RETRY_SCHEDULE_S)
    assert 0.7 * WEBHOOK_RETRY_WINDOW_S <= sum(delays) <= 1.3 * WEBHOOK_RETRY_WINDOW_S, delays
    assert delays == sorted(delays)  # still growing, as the real schedule does
    assert sum(RETRY_SCHEDULE_S) > 8 * 3600  # the real one: hours


def test_the_retry_scale_can_be_set_for_make_dev():
    assert parse_options([], env={}).webhook_retry_scale == DEFAULT_WEBHOOK_RETRY_SCALE
    assert parse_options([], env={wiring.ENV_WEBHOOK_RETRY_SCALE: "1"}).webhook_retry_scale == 1.0
    assert parse_options([], env={wiring.ENV_WEBHOOK_RETRY_SCALE: "0.5"}).webhook_retry_scale == 0.5
    for bad in ("fast", "-1"):
        with pytest.raises(SystemExit):
            parse_options([], env={wiring.ENV_WEBHOOK_RETRY_SCALE: bad})


@pytest.mark.parametrize("spec", wiring.FUNCTIONS, ids=lambda spec: spec.name)
def test_every_function_may_call_loopback_and_only_the_keys_users_are_told_the_key(spec, tmp_path):
    local = LocalStack(Options(state_dir=tmp_path, public_base_url="http://127.0.0.1:3000", webhook_retry_scale=0.5))
    local.moto = SimpleNamespace(url="http://127.0.0.1:1")  # type: ignore[assignment]
    local.names = resources.Names(kms_key_id="key-1", queues={s.name: f"url-{s.name}" for s in wiring.SUBSCRIPTIONS})

    environment = local.function_environment(spec)

    settings = Settings.from_environment(environment)
    assert settings.webhook_allow_loopback is True
    assert settings.webhook_retry_scale == 0.5
    assert (settings.kms_key_id == "key-1") == (wiring.KMS_USE in spec.needs)
    assert (wiring.ENV_KMS_KEY in environment) == (wiring.KMS_USE in spec.needs)
