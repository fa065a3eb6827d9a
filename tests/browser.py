"""Headless Chromium for the page tests: Debian's /usr/bin/chromium
(scripts/ensure-chromium) driven by Playwright's sync API. Never
`playwright install`: it downloads a browser, which offline machines cannot.

The API steps of tests/helpers.py are async; Playwright's sync API holds the
test thread's event loop, so they run on a loop of their own in a worker
thread (`run`)."""
import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

from gavel_server import Api

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


def run(step):
    """Run `step()`, a coroutine function of the async test helpers, to its end
    (called inside the loop, so the clients it builds belong to that loop)."""
    async def inside():
        return await step()
    return _worker.submit(lambda: asyncio.run(inside())).result()


def api(server, token: str = "") -> Api:
    return Api(server.url, token)  # build it inside `run`: its HTTP client belongs to that loop


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
