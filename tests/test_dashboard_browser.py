"""An officer works reports in a real browser: headless Chromium driven by Selenium, signed in
with the link the bot sent, against the real bot and the fake Bot API.

One browser session covers the whole journey (starting Chromium costs more than each step).
It runs on SQLite only: the same pages and actions over PostgreSQL are covered through HTTP in
tests/test_dashboard.py. Screenshots of the queue, a report and the statistics are left in
tests/artifacts/ for people to look at (not committed).
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from openpyxl import load_workbook

from tests.conftest import Harness
from tests.test_dashboard import HTML_STORY, RESIDENT, dashboard_bot, login_link
from tests.test_officer_flow import OFFICER, OFFICER_VI, file_report

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
ARTIFACTS = Path(__file__).parent / "artifacts"

pytestmark = pytest.mark.skipif(
    not (Path(CHROMIUM).exists() and Path(DRIVER).exists()),
    reason="the browser tests need Debian's chromium and chromium-driver "
    "(apt-get install chromium chromium-driver); .ci/run installs them",
)

T = TypeVar("T")


async def run(call: Callable[..., T], *args: Any) -> T:
    """A blocking Selenium call, off the event loop (the bot and the dashboard run on it)."""
    return await asyncio.to_thread(call, *args)


def browser(downloads: Path) -> Any:
    """Headless Chromium with a fresh profile, downloading into `downloads`."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1000",
        f"--user-data-dir={tempfile.mkdtemp(prefix='tinbao-chromium-')}",
    ):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs",
        {"download.default_directory": str(downloads), "download.prompt_for_download": False},
    )
    return webdriver.Chrome(service=Service(DRIVER), options=options)


def wait(driver: Any, condition: Callable[[Any], Any], timeout: float = 10.0) -> Any:
    """Selenium's wait: until `condition` holds (the page loaded, a file arrived)."""
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout).until(condition)


def element(driver: Any, css: str) -> Any:
    """The first element matching a CSS selector, once it is there."""
    from selenium.webdriver.common.by import By

    return wait(driver, lambda d: d.find_element(By.CSS_SELECTOR, css))


def codes_listed(driver: Any) -> list[str]:
    """The case codes in the queue's table."""
    from selenium.webdriver.common.by import By

    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table.queue a.code")]


def said(driver: Any) -> str:
    """What the page told the officer after an action."""
    from selenium.webdriver.common.by import By

    return "\n".join(p.text for p in driver.find_elements(By.CSS_SELECTOR, ".said"))


async def click_and_load(driver: Any, css: str) -> None:
    """Click an element and wait for the next page to replace this one."""
    old = await run(element, driver, "body")
    await run(lambda: element(driver, css).click())
    from selenium.webdriver.support import expected_conditions

    await run(wait, driver, expected_conditions.staleness_of(old))


def card_button(h: Harness, chat_id: int, code: str, prefix: str) -> str:
    """The callback data of a button on the card of `code` sent to `chat_id`."""
    for call in reversed(h.fake.calls):
        if call.chat_id == chat_id and code in str(call.params.get("text", "")):
            for _label, data in h.buttons(call):
                if data.startswith(prefix):
                    return data
    raise AssertionError(f"no {prefix} button on a card of {code} in chat {chat_id}")


async def test_an_officer_works_the_queue_in_a_browser(tmp_path: Path) -> None:
    from selenium.webdriver.support.ui import Select

    ARTIFACTS.mkdir(exist_ok=True)
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    db_url = f"sqlite+aiosqlite:///{tmp_path / 'tinbao.db'}"
    async with dashboard_bot(tmp_path, db_url) as (h, base):
        first = await file_report(h, RESIDENT, with_photo=True, story=HTML_STORY)
        second = await file_report(
            h, RESIDENT, again=True, phone="0987654321", account="Techcombank 19033344455566"
        )
        driver = await run(browser, downloads)
        try:
            # Signing in with the link the bot sent lands on the queue, in the officer's language.
            await run(driver.get, await login_link(h, OFFICER_VI))
            await run(element, driver, "#total")
            assert driver.find_element("css selector", "html").get_attribute("lang") == "vi"
            assert {first, second} <= set(codes_listed(driver))
            await run(driver.save_screenshot, str(ARTIFACTS / "dashboard-queue.png"))

            # Filter: new reports carrying the first report's phone number.
            search = await run(element, driver, "input[name=q]")
            await run(search.send_keys, "0912345678")
            await run(lambda: Select(element(driver, "select[name=status]")).select_by_value("new"))
            await click_and_load(driver, "#apply")
            assert codes_listed(driver) == [first]

            # The report: its story's HTML shown as text, a thumbnail of the photo, its hash.
            await click_and_load(driver, f"a[href='/reports/{first}']")
            story = await run(element, driver, "#story")
            assert '<script>alert("x")</script>' in story.text and "<b>đậm</b>" in story.text
            thumb = await run(element, driver, "img.thumb")
            assert int(await run(thumb.get_property, "naturalWidth")) > 0
            assert "SHA-256" in driver.find_element("css selector", ".hash").text
            await run(driver.save_screenshot, str(ARTIFACTS / "dashboard-report.png"))

            # Claim it: the reporter is told through the bot, as after a press in the chat.
            start = h.fake.mark()
            await click_and_load(driver, "#claim")
            assert first in said(driver)
            assert "Đang xử lý" in driver.find_element("css selector", "#status").text
            await h.fake.wait_for_text(RESIDENT.user_id, after=start, contains=first)

            # Verified: the reporter is told again.
            start = h.fake.mark()
            await run(lambda: Select(element(driver, "#to")).select_by_value("verified"))
            await click_and_load(driver, "#change")
            assert "Đã xác minh" in driver.find_element("css selector", "#status").text
            await h.fake.wait_for_text(RESIDENT.user_id, after=start, contains=first)

            # A stale claim: another officer takes the second report in the chat while this
            # page still offers it; claiming it here is refused, naming who has it.
            await run(driver.get, f"{base}/reports/{second}")
            await run(element, driver, "#claim")
            press = card_button(h, OFFICER.user_id, second, "o:claim:")
            await h.send(OFFICER.callback(press))
            await click_and_load(driver, "#claim")
            assert "Trần Văn Bình" in said(driver), said(driver)
            assert "Đang xử lý" in driver.find_element("css selector", "#status").text

            # Export the verified reports as XLSX and read the file.
            await run(driver.get, f"{base}/?status=verified")
            await run(lambda: element(driver, "#export-xlsx").click())
            done = await run(
                wait,
                driver,
                lambda d: [p for p in downloads.glob("*.xlsx") if p.stat().st_size > 0],
            )
            rows = list(load_workbook(done[0]).active.iter_rows(values_only=True))  # type: ignore[union-attr]
            assert [row[0] for row in rows[1:]] == [first]

            await run(driver.get, f"{base}/stats")
            await run(element, driver, "svg.chart rect")
            await run(driver.save_screenshot, str(ARTIFACTS / "dashboard-stats.png"))

            # Sign out: the dashboard asks to sign in again.
            await click_and_load(driver, "#logout")
            await run(element, driver, "#signin")
            await run(driver.get, f"{base}/")
            await run(element, driver, "#signin")
        finally:
            await run(driver.quit)
