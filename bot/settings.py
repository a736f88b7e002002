"""Configuration: one pydantic-settings object, read from `TINBAO_*` variables and `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from handlers.seal import KeyFormatError, Keyring, parse_key

# Messages a second Telegram takes from a bot without paid broadcasts.
FREE_BROADCAST_RATE = 30.0


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
    # The officers' group chat, where report cards are posted; without it each officer gets
    # the cards in their private chat with the bot.
    officer_chat_id: int | None = None
    # Telegram user ids that are admins from the start ("1234,5678").
    admin_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)

    # The instant check shows a value as reported from this many distinct residents (or once an
    # officer verified a report of it), so that nobody can smear a number alone.
    check_min_reporters: int = Field(default=2, ge=1)

    # The review queue's timers (documented in .env.example).
    escalate_after_minutes: int = Field(default=60, ge=1)
    claim_timeout_hours: float = Field(default=24.0, gt=0)
    # Hour of the day (Vietnam time) of the daily summary to the officers; -1 turns it off.
    daily_summary_hour: int = Field(default=8, ge=-1, le=23)
    timer_seconds: float = Field(default=30.0, gt=0)

    # Limits of the report flow (documented in .env.example).
    # Telegram lets bots download files of at most 20 MB.
    max_file_mb: int = Field(default=20, ge=1, le=20)
    max_report_mb: int = Field(default=100, ge=1)
    max_files_per_report: int = Field(default=30, ge=1)
    flood_messages: int = Field(default=30, ge=1)
    flood_window_seconds: float = Field(default=10.0, gt=0)
    # Reports one resident may send in 24 hours (counted in the database, so across processes);
    # 0 lifts the limit. Officers and admins are not limited.
    reports_per_day: int = Field(default=10, ge=0)
    draft_days: int = Field(default=30, ge=1)
    # Closed, rejected and spam reports lose their evidence files and the reporter's personal
    # data this many days after they were closed (docs/privacy.md, "Retention").
    retention_days: int = Field(default=730, ge=30)
    album_quiet_seconds: float = Field(default=1.5, gt=0)
    # Read the text of screenshots (tesseract, when installed) to propose the phones, accounts
    # and links they show; QR codes are always read. Off saves about a second of CPU a picture.
    ocr: bool = True

    # Webhook mode (`tinbao webhook`, documented in .env.example and docs/deploy.md).
    webhook_url: str | None = None
    webhook_secret: str | None = None
    listen: str = "127.0.0.1:8080"
    webhook_max_connections: int = Field(default=40, ge=1, le=100)
    # The web dashboard (`tinbao webhook`, `tinbao web`; docs/dashboard.md): the address
    # officers open, which the bot's one-time login links start with, and how long a signed-in
    # browser stays signed in.
    public_url: str = "http://127.0.0.1:8080"
    dashboard_session_hours: float = Field(default=12.0, gt=0, le=24 * 30)
    # Updates handled at once by each process, and how long an update waits in the inbox so
    # that an earlier one of the same user, delivered a moment later, still goes first.
    inbox_workers: int = Field(default=16, ge=1, le=256)
    inbox_reorder_ms: int = Field(default=100, ge=0, le=5000)
    # An update whose handling takes longer is taken over by another process (the update's id
    # record keeps it from having two effects); after a crash, its updates wait this long.
    inbox_claim_seconds: float = Field(default=60.0, gt=0)
    # "text" for people, "json" for log collectors (one object a line).
    log_format: str = Field(default="text", pattern="^(text|json)$")
    # DEBUG adds a line for each reply sent (the update it answers and the message's id, no
    # text); unset, `tinbao run` and `tinbao webhook` log at INFO, other commands at WARNING.
    log_level: str | None = Field(default=None, pattern="(?i)^(debug|info|warning|error)$")

    # Scam warnings (documented in .env.example). Telegram takes about 30 messages a second
    # from a bot; paid broadcasts (`allow_paid_broadcast`, charged in Stars) up to 1,000.
    broadcast_rate: float = Field(default=25.0, gt=0, le=1000)
    broadcast_paid: bool = False
    # A second admin must approve a warning before it is sent.
    broadcast_approval: bool = False
    broadcast_max_attempts: int = Field(default=5, ge=1, le=20)
    broadcast_progress_seconds: float = Field(default=5.0, gt=0)
    # A sender holds a broadcast this long between renewals; after a crash another process (or
    # the restarted one) takes it over once it lapses.
    broadcast_lease_seconds: float = Field(default=30.0, gt=0)

    # Zalo Official Account (docs/zalo.md). Zalo is on when the app id, both secrets and the
    # token pair are set. The app secret authenticates token refreshes; the OA secret key
    # signs the webhook's events.
    zalo_app_id: str | None = None
    zalo_app_secret: str | None = None
    zalo_oa_secret: str | None = None
    zalo_oa_id: str | None = None
    zalo_access_token: str | None = None
    zalo_refresh_token: str | None = None
    zalo_api_url: str = "https://openapi.zalo.me"
    zalo_oauth_url: str = "https://oauth.zaloapp.com"
    # Zalo lets an OA reply for free only within this many hours of the resident's last
    # message, and only so many times; what cannot be sent waits for their next message.
    zalo_reply_window_hours: float = Field(default=48.0, gt=0)
    zalo_replies_per_window: int = Field(default=8, ge=1)
    # Scam warnings a Zalo follower may receive per month (Zalo caps proactive messages per
    # follower); past it they are skipped and the admin's summary counts them.
    zalo_warnings_per_month: int = Field(default=4, ge=0)

    # Evidence at rest (docs/backup.md): 32 random bytes in base64 (`tinbao evidence key` makes
    # one). Set, new evidence files are stored encrypted with it; keep it apart from backups.
    evidence_key: SecretStr | None = None
    # Keys used before, comma-separated: files sealed with them stay readable, and
    # `tinbao evidence encrypt` moves them to TINBAO_EVIDENCE_KEY.
    evidence_old_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)

    @field_validator("evidence_key", mode="before")
    @classmethod
    def _one_key(cls, value: Any) -> Any:
        if isinstance(value, str):
            if not value.strip():
                return None
            try:
                parse_key(value)
            except KeyFormatError as error:
                raise ValueError(str(error)) from None
        return value

    @field_validator("evidence_old_keys", mode="before")
    @classmethod
    def _old_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        for item in value or []:
            text = item.get_secret_value() if isinstance(item, SecretStr) else str(item)
            try:
                parse_key(text)
            except KeyFormatError as error:
                raise ValueError(str(error)) from None
        return value

    @property
    def evidence_keys(self) -> Keyring | None:
        """The evidence keys, or None when evidence is stored in plaintext."""
        if self.evidence_key is None:
            return None
        return Keyring(
            parse_key(self.evidence_key.get_secret_value()),
            tuple(parse_key(key.get_secret_value()) for key in self.evidence_old_keys),
        )

    @model_validator(mode="after")
    def _paid_rate(self) -> Settings:
        if self.broadcast_rate > FREE_BROADCAST_RATE and not self.broadcast_paid:
            raise ValueError(
                f"TINBAO_BROADCAST_RATE above {FREE_BROADCAST_RATE:g} needs paid broadcasts "
                "(TINBAO_BROADCAST_PAID=true): Telegram refuses more from a bot otherwise"
            )
        return self

    @field_validator("admin_ids", mode="before")
    @classmethod
    def _split_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    def is_admin(self, channel: str, user_id: str) -> bool:
        """Whether a user is an admin from TINBAO_ADMIN_IDS (Telegram ids)."""
        return channel == "telegram" and user_id in {str(i) for i in self.admin_ids}

    @property
    def zalo_enabled(self) -> bool:
        """Whether the Zalo Official Account channel is configured."""
        return all(
            (
                self.zalo_app_id,
                self.zalo_app_secret,
                self.zalo_oa_secret,
                self.zalo_access_token,
                self.zalo_refresh_token,
            )
        )

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to an SQLite file in the data directory."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'tinbao.db').resolve()}"

    @property
    def webhook_path(self) -> str:
        """The path Telegram posts to: that of `TINBAO_WEBHOOK_URL`, else `/telegram`."""
        path = urlsplit(self.webhook_url).path if self.webhook_url else ""
        return path if path not in ("", "/") else "/telegram"

    @property
    def listen_host_port(self) -> tuple[str, int]:
        """`TINBAO_LISTEN` split into host and port."""
        host, _, port = self.listen.rpartition(":")
        return (host.strip("[]") or "127.0.0.1"), int(port)

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line (the logging setup blanks them)."""
        found = [
            self.telegram_token,
            self.webhook_secret,
            self.zalo_app_secret,
            self.zalo_oa_secret,
            self.zalo_access_token,
            self.zalo_refresh_token,
        ]
        if self.database_url:
            try:
                found.append(make_url(self.database_url).password)
            except ArgumentError:
                pass  # not a URL at all: opening the database says so
        return [secret for secret in found if secret]

    @property
    def evidence_dir(self) -> Path:
        """Where evidence files are stored, by SHA-256."""
        return self.data_dir / "evidence"
