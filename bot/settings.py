"""Configuration: one pydantic-settings object, read from `TINBAO_*` variables and `.env`."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of tinbao; `.env.example` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix="TINBAO_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    telegram_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org/bot"
    telegram_file_url: str = "https://api.telegram.org/file/bot"
    database_url: str | None = None
    data_dir: Path = Path("./data")
    # Messages per second over all chats (Telegram allows about 30); 0 lifts the overall cap,
    # for a test server or a bot Telegram has granted more.
    telegram_max_rate: float = Field(default=30.0, ge=0)
    # The officers' group chat: the bot stays quiet there (report cards come with the queue).
    officer_chat_id: int | None = None

    # Limits of the report flow (documented in .env.example).
    # Telegram lets bots download files of at most 20 MB.
    max_file_mb: int = Field(default=20, ge=1, le=20)
    max_report_mb: int = Field(default=100, ge=1)
    max_files_per_report: int = Field(default=30, ge=1)
    flood_messages: int = Field(default=30, ge=1)
    flood_window_seconds: float = Field(default=10.0, gt=0)
    draft_days: int = Field(default=30, ge=1)
    album_quiet_seconds: float = Field(default=1.5, gt=0)

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tinbao.db').resolve()}"

    @property
    def evidence_dir(self) -> Path:
        """Where evidence files are stored, by SHA-256."""
        return self.data_dir / "evidence"
