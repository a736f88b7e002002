"""Logging: plain lines for people, or one JSON object a line for log collectors.

Log lines never carry message texts, phone or account numbers, names or tokens. Our own code
logs ids and counts, and never names a private chat (`bot.channels.telegram._where`). The
libraries under us are less careful, so their loggers are held back even when tinbao itself
logs at DEBUG (`LIBRARY_LEVELS`): at DEBUG python-telegram-bot logs every Bot API call with
its parameters (message texts) and its base URL (the token), SQLAlchemy and aiosqlite log each
statement with its values, and httpx logs request URLs (the token) at INFO. As a last guard,
every formatted line has the configured secrets and anything shaped like a bot token blanked.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import TextIO

# The most each library may log, whatever level tinbao runs at.
LIBRARY_LEVELS: dict[str, int] = {
    "telegram": logging.INFO,  # DEBUG: API parameters (texts) and the URL with the token
    "httpx": logging.WARNING,  # INFO: request URLs with the token
    "httpcore": logging.WARNING,
    "sqlalchemy": logging.WARNING,  # INFO: every statement with its parameters
    "aiosqlite": logging.INFO,  # DEBUG: every call with its parameters
    "asyncpg": logging.INFO,
    "aiohttp.client": logging.INFO,
    "PIL": logging.INFO,
    "hpack": logging.INFO,
}
# A Telegram bot token: the bot's numeric id, a colon, 35 characters of secret.
_BOT_TOKEN = re.compile(r"(?<![0-9])[0-9]{5,}:[A-Za-z0-9_-]{30,}")
REDACTED = "[redacted]"


class Redactor:
    """Blanks secrets out of a formatted log line."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        # Longest first, so a secret containing another is blanked whole.
        self.secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, line: str) -> str:
        for secret in self.secrets:
            line = line.replace(secret, REDACTED)
        return _BOT_TOKEN.sub(REDACTED, line)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger: message`, with secrets blanked."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self.redact = redact

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", "host", "pid"[, "error"]}` on one line."""

    def __init__(self, redact: Redactor | None = None) -> None:
        super().__init__()
        self.host = socket.gethostname()
        self.redact = redact or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "host": self.host,
            "pid": os.getpid(),
        }
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return self.redact(json.dumps(entry, ensure_ascii=False))


def configure(
    level: int,
    style: str = "text",
    *,
    secrets: Iterable[str | None] = (),
    stream: TextIO | None = None,
) -> None:
    """Set up the root logger in the style `TINBAO_LOG_FORMAT` asks for.

    `secrets` (the bot token, webhook secret, …) never appear in a line; `stream` is stderr
    unless given. Libraries log at most at their `LIBRARY_LEVELS`.
    """
    redact = Redactor(secrets)
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter(redact) if style == "json" else TextFormatter(redact))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name, most in LIBRARY_LEVELS.items():
        logging.getLogger(name).setLevel(max(level, most))
