"""Settings, read once from the environment (prefix COMMITMENTS_) by pydantic-settings."""

from __future__ import annotations

from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def known_time_zone(name: str) -> str:
    """An IANA time zone name such as Africa/Casablanca; anything else is a configuration error, not a traceback."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        msg = f"unknown time zone {name!r}; use an IANA name such as Africa/Casablanca"
        raise ValueError(msg) from None
    return name


class Settings(BaseSettings):
    """Everything the project can be configured with; see the README's Configuration section."""

    model_config = SettingsConfigDict(env_prefix="COMMITMENTS_", extra="ignore")

    database_url: str = "sqlite:///commitments.db"
    timezone: Annotated[str, AfterValidator(known_time_zone)] = "Africa/Casablanca"
    snapshot_interval: int = Field(default=100, ge=2)
    aggregate_cache_size: int = Field(default=2000, ge=1)
    conflict_retries: int = Field(default=10, ge=0)
    read_wait_seconds: float = Field(default=5.0, ge=0)
    sqlite_lock_timeout: int = Field(default=30, ge=1)

    # Issue 6: HTTP API and web UI.
    api_max_body_bytes: int = Field(default=65536, ge=1024)
    api_max_page_size: int = Field(default=100, ge=1, le=1000)
    web_session_secret: str | None = Field(default=None, min_length=32)
    web_session_max_age: int = Field(default=8 * 3600, ge=60)
    web_default_language: str = Field(default="fr", pattern=r"^(ar|fr|en)$")
    web_secure_cookies: bool = False
    projection_poll_seconds: float = Field(default=1.0, gt=0)

    # Issue 4: scheduler, reminder ladder and delivery channels.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=25, ge=1, le=65535)
    smtp_starttls: bool = False
    smtp_sender: str = "commitments@localhost"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    smtp_ca_file: str | None = None
    webhook_secret: SecretStr | None = None
    webhook_timeout_seconds: float = Field(default=10.0, gt=0)
    reminder_ladder: str = "-14,-3,+1,+30:lead"
    reminder_max_per_run: int = Field(default=100, ge=1)
    reminder_max_attempts: int = Field(default=3, ge=1, le=10)
    reminder_backoff_seconds: float = Field(default=2.0, ge=0)
    scheduler_interval_seconds: float = Field(default=3600.0, ge=1)
    scheduler_lock_wait_seconds: float = Field(default=60.0, ge=0)
    scheduler_standby_poll_seconds: float = Field(default=15.0, gt=0)

    # Issue 3: projections (read models).
    projection_batch_size: int = Field(default=1000, ge=1, le=10000)
