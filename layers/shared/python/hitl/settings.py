"""Typed settings read from the environment, cached; ``get_settings.cache_clear()`` in tests."""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    table_name: str = Field(validation_alias="TABLE_NAME")
    event_bus_name: str = Field(validation_alias="EVENT_BUS_NAME")
    public_base_url: str = Field(default="http://127.0.0.1:3000", validation_alias="PUBLIC_BASE_URL")
    #: how long a warm function trusts a key lookup (a revocation takes effect within this)
    key_cache_seconds: int = Field(default=60, validation_alias="HITL_KEY_CACHE_SECONDS")
    #: the From of approval emails: an address of an SES-verified identity
    sender: str = Field(default="HITL <approvals@hitl.local>", validation_alias="HITL_SENDER")
    ses_configuration_set: str | None = Field(default=None, validation_alias="SES_CONFIGURATION_SET")
    email_queue_url: str | None = Field(default=None, validation_alias="QUEUE_URL_EMAIL")

    @property
    def base_url(self) -> str:
        return self.public_base_url.rstrip("/")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()  # type: ignore[call-arg]  # filled from the environment
