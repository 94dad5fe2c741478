from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from core.errors import ConfigurationError
from core.settings import Settings


def test_production_refuses_missing_or_short_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY"):
        Settings(inferra_env="production", data_dir=tmp_path, _env_file=None)
    with pytest.raises(ValidationError, match="JWT_SECRET_KEY"):
        Settings(inferra_env="production", jwt_secret_key="short", _env_file=None)
    ok = Settings(inferra_env="production", jwt_secret_key="k" * 32, _env_file=None)
    assert ok.jwt_secret() == "k" * 32


def test_dev_secret_is_generated_once_per_data_dir(tmp_path: Path) -> None:
    first = Settings(inferra_env="dev", data_dir=tmp_path / "a", _env_file=None).jwt_secret()
    again = Settings(inferra_env="dev", data_dir=tmp_path / "a", _env_file=None).jwt_secret()
    other = Settings(inferra_env="dev", data_dir=tmp_path / "b", _env_file=None).jwt_secret()
    assert first == again != other
    assert len(first) >= 32
    assert (tmp_path / "a" / "jwt_secret").stat().st_mode & 0o077 == 0


def test_gitignore_covers_secrets_and_data() -> None:
    ignored = (Path(__file__).parents[1] / ".gitignore").read_text().split()
    assert ".env" in ignored and ".inferra/" in ignored


def test_empty_keys_mean_unset(monkeypatch) -> None:
    monkeypatch.setenv("GEMINI_API_KEY", "")
    monkeypatch.setenv("DATABASE_URL", "")
    settings = Settings(_env_file=None)
    assert settings.gemini_api_key is None and settings.database_url is None


def test_an_empty_or_short_dev_secret_file_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "c"
    folder.mkdir()
    (folder / "jwt_secret").write_text("\n")
    with pytest.raises(ConfigurationError, match="no usable secret"):
        Settings(inferra_env="dev", data_dir=folder, _env_file=None).jwt_secret()
