"""The demo in a real browser: Debian's headless Chromium, driven by Playwright.

The browser is the system's (``apt-get install chromium``; ``bash .ci/run`` installs it
when it is missing): Playwright downloads nothing.
"""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.served import Served, served

pytestmark = [pytest.mark.live, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.fail(
            "chromium is not installed: apt-get install chromium "
            "(bash .ci/run installs it when it is missing)"
        )
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()


@pytest.fixture
async def demo() -> AsyncIterator[Served]:
    async with served("examples.chat:app") as server:
        yield server


async def join(browser: Browser, demo: Served, name: str) -> Page:
    page = await browser.new_page()
    await page.goto(demo.http("/"))
    await page.fill("#room", "lobby")
    await page.fill("#name", name)
    await page.click("#join button")
    await expect(page.locator("#text")).to_be_enabled()  # the socket is open
    return page


async def test_two_pages_chat_and_html_is_shown_as_text(browser: Browser, demo: Served) -> None:
    ada = await join(browser, demo, "ada")
    bob = await join(browser, demo, "bob")
    await expect(ada.locator("#log")).to_contain_text("bob joined lobby")
    await ada.fill("#text", "<b>bold?</b> <img src=x onerror=alert(1)>")
    await ada.click("#say button")
    line = bob.locator("#log div", has_text="ada: <b>bold?</b>")
    await expect(line).to_have_text("ada: <b>bold?</b> <img src=x onerror=alert(1)>")
    assert await bob.locator("#log b, #log img").count() == 0  # text, not markup
    await bob.close()
    await expect(ada.locator("#log")).to_contain_text("bob left lobby")
    assert "Traceback" not in demo.stderr


async def test_a_page_of_another_origin_cannot_open_the_chat(
    browser: Browser, demo: Served
) -> None:
    # localhost and 127.0.0.1 are two origins: the page's own socket opens, and one to
    # the other host (what a page of another site would do) is refused.
    page = await browser.new_page()
    await page.goto(f"http://localhost:{demo.port}/")
    outcome = await page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new WebSocket(url);
            socket.onopen = () => resolve("open");
            socket.onclose = (event) => resolve(`closed ${event.code}`);
        })""",
        demo.ws("/ws/lobby?name=mallory"),
    )
    assert outcome == "closed 1006"  # the browser's code for a refused handshake
    same = await page.evaluate(
        """(url) => new Promise((resolve) => {
            const socket = new WebSocket(url);
            socket.onopen = () => { resolve("open"); socket.close(); };
            socket.onclose = (event) => resolve(`closed ${event.code}`);
        })""",
        f"ws://localhost:{demo.port}/ws/lobby?name=friend",
    )
    assert same == "open"
