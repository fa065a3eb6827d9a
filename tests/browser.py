"""Headless Chromium for the page tests: Debian's /usr/bin/chromium
(scripts/ensure-chromium) driven by Playwright's sync API. Never
`playwright install`: it downloads a browser, which offline machines cannot.

The API steps of tests/helpers.py are async; Playwright's sync API holds the
test thread's event loop, so they run on a loop of their own in a worker
thread (`run`)."""
import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from gavel_server import Api
from server.demo import bowl

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
BIDDER_KEY, OPERATOR_KEY = "gavel.token", "gavel.operator"  # static/js/client.js
_worker = ThreadPoolExecutor(1)


@contextmanager
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def browser():
    """One browser per test module (import this fixture, and `tabs`, into it)."""
    with chromium() as b:
        yield b


@pytest.fixture
def tabs(browser, server):
    """Open tabs (on the module's server, or `on=` another); each must end with no error."""
    opened = []

    def open_(on=None, **kw):
        opened.append(open_tab(browser, on or server, **kw))
        return opened[-1]
    yield open_
    problems = [tab.errors for tab in opened if tab.errors]
    for tab in opened:
        tab.close()
    assert not problems, problems


def run(step):
    """Run `step()`, a coroutine function of the async test helpers, to its end
    (called inside the loop, so the clients it builds belong to that loop)."""
    async def inside():
        return await step()
    return _worker.submit(lambda: asyncio.run(inside())).result()


def api(server, token: str = "") -> Api:
    return Api(server.url, token)  # build it inside `run`: its HTTP client belongs to that loop


def admin(server) -> Api:
    return api(server, server.admin_token)


@dataclass
class Tab:
    """A page, and what it did that a user would notice or a test must not see."""
    page: Page
    errors: list = field(default_factory=list)   # console errors (CSP violations among them) and uncaught exceptions
    dialogs: list = field(default_factory=list)

    def goto(self, path: str):
        return self.page.goto(path)

    def close(self) -> None:
        self.page.context.close()


def open_tab(browser: Browser, server, bidder: str = "", operator: str = "", phone: bool = False) -> Tab:
    """A new browser context (its own storage) with the given tokens already kept, as after a login."""
    stored = [{"name": BIDDER_KEY, "value": bidder}] * bool(bidder) + [{"name": OPERATOR_KEY, "value": operator}] * bool(operator)
    context = browser.new_context(base_url=server.url, storage_state={"cookies": [], "origins": [
        {"origin": server.url, "localStorage": stored}]}, **(PHONE if phone else {"viewport": {"width": 1280, "height": 900}}))
    tab = Tab(context.new_page())
    tab.page.on("console", lambda msg: msg.type == "error" and tab.errors.append(msg.text))
    tab.page.on("pageerror", lambda exc: tab.errors.append(str(exc)))

    def dialog(d):
        tab.dialogs.append(d.message)
        d.dismiss()
    tab.page.on("dialog", dialog)
    return tab


def shows(page: Page, selector: str, text: str, within: float) -> float:
    """Seconds until `selector`'s text contains `text`, checked every frame; fails after `within`."""
    started = time.monotonic()
    page.wait_for_function("([sel, text]) => { const n = document.querySelector(sel); return n && n.textContent.includes(text); }",
                           arg=[selector, text], polling="raf", timeout=within * 1000)
    return time.monotonic() - started


def shot(page: Page, name: str, full_page: bool = False) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path


def in_room(tab: Tab, lot_id: str) -> None:
    """Open the lot room and wait for its snapshot (the bid list is drawn from it)."""
    tab.goto(f"/lot.html?id={lot_id}")
    expect(tab.page.locator("#bids li")).not_to_have_count(0)
    expect(tab.page.locator("#conn")).to_have_class(re.compile("open"))


def png(seed: int) -> dict:
    """An image file to upload from a page."""
    return {"name": f"pic{seed}.png", "mimeType": "image/png",
            "buffer": bowl((40 + seed * 40, 80, 60), (230, 220, 200), seed % 3)}
