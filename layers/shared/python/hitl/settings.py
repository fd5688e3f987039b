"""Typed settings read from the environment, cached; ``get_settings.cache_clear()`` in tests.

Every variable's name comes from ``hitl.wiring``, which also builds each function's environment.
A plain pydantic model filled from ``os.environ`` (pydantic-settings cost 15–70 ms of every cold
start for what is a dictionary lookup): each field comes from the variable its
``validation_alias`` names, else from the field's own name, matched case-insensitively, as
pydantic-settings matched them; other variables are ignored.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from hitl import wiring


class Settings(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    table_name: str = Field(validation_alias=wiring.ENV_TABLE)
    event_bus_name: str = Field(validation_alias=wiring.ENV_BUS)
    public_base_url: str = Field(default="http://127.0.0.1:3000", validation_alias=wiring.ENV_PUBLIC_BASE_URL)
    #: how long a warm function trusts a key lookup (a revocation takes effect within this);
    #: 0, the default: every request reads its key, so a revocation counts at the next request
    key_cache_seconds: int = Field(default=0, validation_alias=wiring.ENV_KEY_CACHE_SECONDS)
    #: the From of approval emails: an address of an SES-verified identity
    sender: str = Field(default=wiring.DEFAULT_SENDER, validation_alias=wiring.ENV_SENDER)
    ses_configuration_set: str | None = Field(default=None, validation_alias=wiring.ENV_SES_CONFIGURATION_SET)
    email_queue_url: str | None = Field(default=None, validation_alias=wiring.queue_url_env("email"))
    deliveries_queue_url: str | None = Field(default=None, validation_alias=wiring.queue_url_env("deliveries"))
    #: the KMS key that encrypts webhook and callback secrets
    kms_key_id: str | None = Field(default=None, validation_alias=wiring.ENV_KMS_KEY)
    #: the Slack app (``wiring.SLACK_APP``); no API URL: no Slack app is configured, Slack is off
    slack_api_url: str | None = Field(default=None, validation_alias=wiring.ENV_SLACK_API_URL)
    slack_authorize_url: str = Field(
        default=wiring.SLACK_AUTHORIZE_URL, validation_alias=wiring.ENV_SLACK_AUTHORIZE_URL
    )
    slack_client_id: str | None = Field(default=None, validation_alias=wiring.ENV_SLACK_CLIENT_ID)
    #: SSM SecureString parameter names (``hitl.slack.secrets`` reads them), never the secrets
    slack_signing_secret_parameter: str | None = Field(
        default=None, validation_alias=wiring.ENV_SLACK_SIGNING_SECRET_PARAMETER
    )
    slack_client_secret_parameter: str | None = Field(
        default=None, validation_alias=wiring.ENV_SLACK_CLIENT_SECRET_PARAMETER
    )
    #: ``open``: anyone may create a team (``/signup``); ``closed``: only the operator's hitl-admin
    signup: Literal["open", "closed"] = Field(default="closed", validation_alias=wiring.ENV_SIGNUP)
    #: only the local stack sets this: webhooks may then call http://127.0.0.1
    webhook_allow_loopback: bool = Field(default=False, validation_alias=wiring.ENV_WEBHOOK_LOOPBACK)
    #: multiplies the webhook retry schedule (the local stack compresses it)
    webhook_retry_scale: float = Field(default=1.0, ge=0, validation_alias=wiring.ENV_WEBHOOK_RETRY_SCALE)
    session_idle_seconds: int = Field(default=12 * 3600, ge=60, validation_alias=wiring.ENV_SESSION_IDLE_SECONDS)
    session_max_seconds: int = Field(default=7 * 86400, ge=60, validation_alias=wiring.ENV_SESSION_MAX_SECONDS)
    login_limit_per_email: int = Field(default=5, ge=1, validation_alias=wiring.ENV_LOGIN_PER_EMAIL)
    login_limit_per_ip: int = Field(default=50, ge=1, validation_alias=wiring.ENV_LOGIN_PER_IP)
    login_window_seconds: int = Field(default=900, ge=1, validation_alias=wiring.ENV_LOGIN_WINDOW_SECONDS)

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/")

    @property
    def slack_enabled(self) -> bool:
        """Whether this deployment has a Slack app (``Deployment.slack``): else nothing Slack runs."""
        return self.slack_api_url is not None

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The settings from ``environ`` (default ``os.environ``); a missing required variable or
        a value of the wrong type raises pydantic's ``ValidationError``."""
        variables = {name.lower(): value for name, value in (os.environ if environ is None else environ).items()}
        values: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            alias = field.validation_alias if isinstance(field.validation_alias, str) else name
            for key in (alias.lower(), name.lower()):
                if key in variables:
                    values[alias] = variables[key]  # under the alias: errors name the variable
                    break
        return cls.model_validate(values)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment()
