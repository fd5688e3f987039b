"""The Slack app's secrets, from SSM SecureString parameters (``wiring.SlackApp``): read with
``GetParameter`` ``WithDecryption``, once per warm container.  The parameters' names come from the
settings (``HITL_SLACK_*_PARAMETER``); the values are never logged."""

from __future__ import annotations

from functools import lru_cache

from hitl.adapters import aws
from hitl.settings import get_settings


class SlackNotConfigured(RuntimeError):
    """This deployment has no Slack app (``Deployment.slack`` is None)."""


@lru_cache(maxsize=4)
def parameter(name: str) -> str:
    """The decrypted value of the SSM parameter ``name`` (cached: a rotated secret is read by the
    next cold start)."""
    answer = aws.ssm().get_parameter(Name=name, WithDecryption=True)
    return str(answer["Parameter"]["Value"])


def signing_secret() -> str:
    """What Slack signs its requests with (``POST /slack/interactivity``)."""
    name = get_settings().slack_signing_secret_parameter
    if not name:
        raise SlackNotConfigured("no Slack app: HITL_SLACK_SIGNING_SECRET_PARAMETER is not set")
    return parameter(name)


def client_secret() -> str:
    """The app's OAuth client secret (``oauth.v2.access``)."""
    name = get_settings().slack_client_secret_parameter
    if not name:
        raise SlackNotConfigured("no Slack app: HITL_SLACK_CLIENT_SECRET_PARAMETER is not set")
    return parameter(name)


def reset() -> None:
    parameter.cache_clear()
