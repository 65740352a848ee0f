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

MEMBERS = "#members li"

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


async def test_the_member_list_follows_who_is_there(browser: Browser, demo: Served) -> None:
    ada = await join(browser, demo, "ada")
    await expect(ada.locator(MEMBERS)).to_have_text(["ada"])
    bob = await join(browser, demo, "bob")
    # bob learns who was already there; ada sees bob arrive, then leave.
    await expect(bob.locator(MEMBERS)).to_have_text(["ada", "bob"])
    await expect(ada.locator(MEMBERS)).to_have_text(["ada", "bob"])
    await bob.close()
    await expect(ada.locator(MEMBERS)).to_have_text(["ada"])


async def test_the_page_enforces_the_servers_limit(browser: Browser, demo: Served) -> None:
    ada = await join(browser, demo, "ada")
    await ada.fill("#text", "x" * 2500)
    assert len(await ada.input_value("#text")) == 2000  # maxlength
    await expect(ada.locator("#count")).to_have_text("2000/2000")
    # Past the limit however it got there (a script): Send is disabled.
    await ada.evaluate(
        """() => { const t = document.getElementById("text"); t.removeAttribute("maxlength");
                   t.value = "y".repeat(2001); t.dispatchEvent(new Event("input")); }"""
    )
    await expect(ada.locator("#say button")).to_be_disabled()
    await ada.fill("#text", "short")
    await expect(ada.locator("#say button")).to_be_enabled()
    await ada.click("#say button")
    await expect(ada.locator("#log")).to_contain_text("ada: short")


async def test_the_icon_is_served_and_nothing_is_missing(browser: Browser, demo: Served) -> None:
    page = await browser.new_page()
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    await page.goto(demo.http("/"))
    status = await page.evaluate("async () => (await fetch('/favicon.ico')).status")
    assert status == 200
    assert missing == []


async def test_the_page_says_what_happens_and_reconnects_with_backoff(browser: Browser) -> None:
    async with served("examples.chat:app") as first:
        port = first.port
        ada = await join(browser, first, "ada")
        await expect(ada.locator("#state")).to_have_text("Connected to lobby as ada.")
    # SIGTERM: uvicorn closes with 1012, in words on the page, and Send is disabled.
    await expect(ada.locator("#state")).to_contain_text(
        "Disconnected: the server is restarting. Reconnecting in"
    )
    await expect(ada.locator("#text")).to_be_disabled()
    await expect(ada.locator("#say button")).to_be_disabled()
    await expect(ada.locator(MEMBERS)).to_have_count(0)
    # Nothing listens now: the next attempts fail, each waiting longer.
    await expect(ada.locator("#state")).to_contain_text(
        "Disconnected: the connection was lost. Reconnecting in", timeout=10_000
    )
    async with served("examples.chat:app", port=port) as second:
        await expect(ada.locator("#state")).to_have_text(
            "Connected to lobby as ada.", timeout=40_000
        )
        await expect(ada.locator("#text")).to_be_enabled()
        await expect(ada.locator(MEMBERS)).to_have_text(["ada"])
        await ada.fill("#text", "back")
        await ada.click("#say button")
        await expect(ada.locator("#log")).to_contain_text("ada: back")
    assert "Traceback" not in second.stderr
