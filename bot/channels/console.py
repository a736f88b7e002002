"""A console channel: the same conversation in a terminal, for trying tinbao without Telegram.

Buttons are shown numbered; typing the number presses the button. `/file PATH` sends a file as
evidence and `/forward TEXT` a forwarded message, as a Telegram user would.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from handlers import router
from handlers.core import Button, Forwarded, Inbound, IncomingFile, Outbound
from handlers.evidence import sniff
from handlers.i18n import translator
from handlers.services import Services

CHANNEL = "console"


class ConsoleOutbox:
    """Prints messages; remembers the buttons shown so a typed number can press one."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.buttons: list[Button] = []
        self.sent = 0

    async def send(self, inbound: Inbound, message: Outbound) -> str | None:
        """Print one message with its numbered buttons; returns its number."""
        if message.to is not None and message.to != inbound.chat_id:
            # Another chat (officers, another resident): shown, not made pressable here.
            self.out.write(f"[→ {message.to}] {message.title or ''} {message.text}\n\n")
            self.out.flush()
            self.sent += 1
            return str(self.sent)
        lines = []
        if message.toast:
            lines.append(f"(i) {message.text}")
            self.out.write("\n".join(lines) + "\n\n")
            self.out.flush()
            return None
        if message.edit is not None:
            lines.append("(updated)")
        if message.file is not None:
            lines.append(f"[file: {message.file.name or message.file.path}]")
        if message.title:
            lines.append(f"== {message.title} ==")
        lines.append(message.text)
        if message.buttons:
            self.buttons = [button for row in message.buttons for button in row]
            for number, button in enumerate(self.buttons, start=1):
                lines.append(f"  [{number}] {button.label}")
        self.out.write("\n".join(lines) + "\n\n")
        self.out.flush()
        self.sent += 1
        return str(self.sent)


def to_inbound(line: str, user_id: str, language: str, buttons: list[Button]) -> Inbound:
    """A typed line as an `Inbound`: a button number, a command, a file, or text."""
    inbound = Inbound(channel=CHANNEL, user_id=user_id, chat_id=user_id, language_hint=language)
    stripped = line.strip()
    if stripped.isdigit() and 1 <= int(stripped) <= len(buttons):
        inbound.callback = buttons[int(stripped) - 1].data
        return inbound
    if stripped.startswith("/file "):
        path = Path(stripped[6:].strip()).expanduser()
        inbound.files = [_file(path)]
        return inbound
    if stripped.startswith("/forward "):
        inbound.text = stripped[9:]
        inbound.forwarded = Forwarded(origin="console")
        return inbound
    if stripped.startswith("/") and len(stripped) > 1:
        name, _, args = stripped[1:].partition(" ")
        inbound.command, inbound.args = name, args
        return inbound
    inbound.text = line
    return inbound


def _file(path: Path) -> IncomingFile:
    async def fetch() -> bytes:
        return await asyncio.to_thread(path.read_bytes)

    size = path.stat().st_size if path.is_file() else 0
    head = path.read_bytes()[:4096] if path.is_file() else b""
    return IncomingFile(
        kind="photo" if (sniff(head) or "").startswith("image/") else "document",
        file_id=str(path),
        file_unique_id=str(path),
        size=size,
        mime=None,
        name=path.name,
        fetch=fetch,
    )


def _missing_file(line: str) -> str | None:
    """The path of a `/file` line that names no file, else None."""
    if not line.startswith("/file "):
        return None
    path = line[6:].strip()
    return None if Path(path).expanduser().is_file() else path


async def chat(
    services: Services,
    *,
    language: str = "vi",
    user_id: str = "console",
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    read_line: Callable[[], str] | None = None,
) -> None:
    """Talk to the bot until end of input or `/quit`."""
    out = stdout or sys.stdout
    source = stdin or sys.stdin
    outbox = ConsoleOutbox(out)
    read = read_line or source.readline
    t = translator(language)
    out.write(
        t._(
            "tinbao in the terminal. Type /start to begin, a number to press a button, "
            "/quit to leave."
        )
        + "\n\n"
    )
    out.flush()
    loop = asyncio.get_running_loop()
    while True:
        line = await loop.run_in_executor(None, read)
        if not line or line.strip() in ("/quit", "/exit"):
            break
        if not line.strip():
            continue
        missing = _missing_file(line)
        if missing is not None:
            out.write(t._("No such file: {path}").format(path=missing) + "\n\n")
            continue
        inbound = to_inbound(line.rstrip("\n"), user_id, language, outbox.buttons)
        await router.handle(inbound, services, outbox)
    await services.debouncer.flush()
