"""Logging: plain lines for people, or one JSON object a line for log collectors.

Log lines never carry message texts, phone or account numbers, names or tokens: handlers log
ids and counts, private chats are never named (`bot.channels.telegram._where`), and the
`httpx` logger, whose lines contain the bot token in request URLs, is kept at WARNING.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from datetime import UTC, datetime


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", "host", "pid"[, "error"]}` on one line."""

    def __init__(self) -> None:
        super().__init__()
        self.host = socket.gethostname()

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
        return json.dumps(entry, ensure_ascii=False)


def configure(level: int, style: str = "text") -> None:
    """Set up the root logger once, in the style `TINBAO_LOG_FORMAT` asks for."""
    handler = logging.StreamHandler()
    if style == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # request URLs contain the token
