"""The `tinbao` command line, run as a user runs it: its arguments, stdin, stdout and exit code."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import subprocess
import sys
import threading
import traceback
from pathlib import Path

from bot.logs import LIBRARY_LEVELS
from storage.migrate import head_revision
from tests.test_report_flow import picture

ROOT = Path(__file__).resolve().parent.parent
PNG = picture("PNG")


def tinbao(
    *args: str, cwd: Path, db_url: str | None = None, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `tinbao ARGS` with no TINBAO_* settings but the database, in `cwd`.

    It runs the console script's own `main` with its own environment, working directory,
    stdin, stdout and stderr, in a thread of this process: a new interpreter for each of the
    suite's hundred-odd commands spent over two seconds importing the same libraries. Tests
    that need a real process (signals, a server) start one themselves."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TINBAO_")}
    env["PYTHONPATH"] = str(ROOT)
    env["TINBAO_DATA_DIR"] = str(cwd / "data")
    if db_url:
        env["TINBAO_DATABASE_URL"] = db_url
    with _ONE_AT_A_TIME:
        return _in_process(list(args), cwd, env, stdin, timeout)


_ONE_AT_A_TIME = threading.Lock()  # the environment, directory and streams are the process's


def _in_process(
    args: list[str], cwd: Path, env: dict[str, str], stdin: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    from bot import cli

    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", newline="")
    feed = io.TextIOWrapper(io.BytesIO(stdin.encode()), encoding="utf-8")
    codes: list[int] = []

    def run() -> None:
        try:
            codes.append(cli.main(args))
        except SystemExit as stop:  # argparse's --help and usage errors
            code = stop.code
            if isinstance(code, str):
                print(code, file=err)
            codes.append(code if isinstance(code, int) else int(code is not None))
        except BaseException:
            traceback.print_exc(file=err)
            codes.append(1)

    root = logging.getLogger()
    saved_logging = (root.handlers[:], root.level)
    saved_levels = {name: logging.getLogger(name).level for name in LIBRARY_LEVELS}
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    saved_streams = (sys.stdin, sys.stdout, sys.stderr)
    try:
        os.environ.clear()
        os.environ.update(env)
        os.chdir(cwd)
        sys.stdin, sys.stdout, sys.stderr = feed, out, err
        worker = threading.Thread(target=run, name="tinbao-cli")
        worker.start()
        worker.join(timeout)
        if worker.is_alive():
            raise subprocess.TimeoutExpired(["tinbao", *args], timeout)
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved_streams
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        root.handlers[:], level = saved_logging
        root.setLevel(level)
        for name, value in saved_levels.items():
            logging.getLogger(name).setLevel(value)
    out.flush()
    err.flush()
    return subprocess.CompletedProcess(
        ["tinbao", *args],
        codes[0],
        out.buffer.getvalue().decode(),
        err.buffer.getvalue().decode(),
    )


def test_run_without_a_token_explains_in_one_line_how_to_get_one(tmp_path: Path) -> None:
    result = tinbao("run", cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "@BotFather" in lines[0] and "tinbao chat" in lines[0]
    assert "TINBAO_TELEGRAM_TOKEN" in lines[0]


def test_extract_prints_one_json_object_per_indicator(tmp_path: Path) -> None:
    message = (
        "[VCB] Tai khoan cua quy khach bi khoa. Truy cap https://vcb-xacthuc.com de mo. "
        "Lien he 0912 345 678 hoac CK vao STK 0123456789 Vietcombank NGUYEN VAN A."
    )
    result = tinbao("extract", cwd=tmp_path, stdin=message)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert all(set(row) == {"kind", "value", "raw"} for row in rows)
    found = {(row["kind"], row["value"]) for row in rows}
    assert ("phone", "+84912345678") in found
    assert ("url", "https://vcb-xacthuc.com") in found
    assert ("domain", "vcb-xacthuc.com") in found
    assert ("bank_account", "VCB:0123456789") in found
    raw = {row["value"]: row["raw"] for row in rows}
    assert raw["+84912345678"] == "0912 345 678"


def test_db_upgrade_reports_the_revision(tmp_path: Path, db_url: str) -> None:
    result = tinbao("db", "upgrade", cwd=tmp_path, db_url=db_url)
    assert result.returncode == 0, result.stderr
    assert f"is at revision {head_revision()}" in result.stdout
    again = tinbao("db", "upgrade", cwd=tmp_path, db_url=db_url)
    assert again.returncode == 0 and f"revision {head_revision()}" in again.stdout


def test_an_unreachable_database_is_one_clear_line(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    result = tinbao("export", cwd=tmp_path, db_url=url)
    assert result.returncode == 1
    assert result.stderr.startswith("tinbao: cannot open the database at postgresql+asyncpg://")
    assert "Traceback" not in result.stderr


CHAT_SCRIPT = """/start
1
1
3
1
5 triệu
hôm qua
VCB 0123456789 NGUYEN VAN A
1
0912345678
1
Họ dụ tôi nạp tiền vào sàn đầu tư.
1
/file {png}
1
2
1
/tinbao
/quit
"""


def test_a_report_made_in_the_terminal_is_exported_as_jsonl_and_csv(
    tmp_path: Path, db_url: str
) -> None:
    png = tmp_path / "chuyen-khoan.png"
    png.write_bytes(PNG)
    chat = tinbao("chat", cwd=tmp_path, db_url=db_url, stdin=CHAT_SCRIPT.format(png=png))
    assert chat.returncode == 0, chat.stderr
    out = chat.stdout
    assert "Bạn có đồng ý không?" in out
    assert "[1] ✅ Tôi đồng ý" in out
    assert "Mình đã nhận. Báo cáo này hiện có 1 tệp." in out
    assert "Mã hồ sơ của bạn là TB-" in out
    assert "Đã tiếp nhận, đang chờ cán bộ xem" in out  # /tinbao after sending

    exported = tinbao("export", "--format", "jsonl", cwd=tmp_path, db_url=db_url)
    assert exported.returncode == 0, exported.stderr
    (report,) = [json.loads(line) for line in exported.stdout.splitlines()]
    assert set(report) == {
        "code",
        "status",
        "category",
        "description",
        "occurred_at",
        "amount_lost_vnd",
        "channel",
        "created_at",
        "submitted_at",
        "assignee",
        "indicators",
        "attachments",
        "reporter",
        "purged_at",
    }
    assert report["code"].startswith("TB-") and report["status"] == "new"
    assert report["category"] == "investment" and report["channel"] == "console"
    assert report["amount_lost_vnd"] == 5_000_000
    assert report["description"] == "Họ dụ tôi nạp tiền vào sàn đầu tư."
    assert report["reporter"] is None  # the resident chose to stay anonymous
    assert {(i["kind"], i["value"]) for i in report["indicators"]} == {
        ("bank_account", "VCB:0123456789"),
        ("phone", "+84912345678"),
    }
    (attachment,) = report["attachments"]
    assert attachment["mime"] == "image/png" and attachment["size"] == len(PNG)

    as_csv = tinbao("export", "--format", "csv", cwd=tmp_path, db_url=db_url)
    assert as_csv.returncode == 0, as_csv.stderr
    (row,) = list(csv.DictReader(io.StringIO(as_csv.stdout)))
    assert row["code"] == report["code"] and row["amount_lost_vnd"] == "5000000"
    assert set(row["indicators"].split(";")) == {
        "bank_account:VCB:0123456789",
        "phone:+84912345678",
    }
    assert row["attachments"] == attachment["sha256"]
    assert row["reporter_handle"] == "" and "reporter_channel" not in row  # no identity


def test_officers_are_added_listed_and_removed(tmp_path: Path, db_url: str) -> None:
    added = tinbao("officer", "add", "555", "--name", "Trần Văn B", cwd=tmp_path, db_url=db_url)
    assert added.returncode == 0, added.stderr
    assert "telegram:555 is now an officer" in added.stdout
    listed = tinbao("officer", "list", cwd=tmp_path, db_url=db_url)
    assert listed.stdout.splitlines() == ["telegram\t555\tofficer\tTrần Văn B"]
    removed = tinbao("officer", "remove", "555", cwd=tmp_path, db_url=db_url)
    assert removed.returncode == 0 and "no longer an officer" in removed.stdout
    assert tinbao("officer", "list", cwd=tmp_path, db_url=db_url).stdout == ""
    again = tinbao("officer", "remove", "555", cwd=tmp_path, db_url=db_url)
    assert again.returncode == 1
    assert again.stderr.strip() == "tinbao: telegram:555 is not an officer"
    wrong = tinbao("officer", "add", "lan", cwd=tmp_path, db_url=db_url)
    assert wrong.returncode == 1 and "is not a Telegram user id" in wrong.stderr
