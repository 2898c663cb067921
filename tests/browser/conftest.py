"""Browser tests: Playwright for Python driving Debian's Chromium against pytest-django's live_server."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CHROMIUM = Path(os.environ.get("GATEHOUSE_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Playwright's sync API keeps an event loop in this thread, which Django mistakes for async code around the
# test's own database calls (making the data); the live server answers requests in its own thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

# Collects what the Content Security Policy blocked; an init script runs before the page's own scripts and is
# not subject to the page's policy.
CSP_WATCH = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__cspViolations.push(e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});
"""


def pytest_collection_modifyitems(config, items):
    if CHROMIUM.exists():
        return
    skip = pytest.mark.skip(
        reason=f"{CHROMIUM} is absent: install Debian's chromium package to run browser tests"
    )
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class PageProblems:
    """Console errors about the CSP and failed responses (a missing static file is a 404), for all pages."""

    def __init__(self, page):
        self.console: list[str] = []
        self.failed: list[str] = []
        page.on("console", self._console)
        page.on("response", self._response)

    def _console(self, message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text:
            self.console.append(text)

    def _response(self, response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.url}")


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_init_script(CSP_WATCH)
    page = context.new_page()
    page.set_default_timeout(10_000)
    page.problems = PageProblems(page)
    yield page
    context.close()


@pytest.fixture(autouse=True)
def _installation_data(transactional_db):
    """What `gatehouse migrate` leaves behind (roles, the audit chain head, the desk's defaults), again.

    Live-server tests need a database as an install has it, whatever the test before left behind (a flush
    with the post-migrate signal inhibited, as serialized rollback does, would leave none of it).
    """
    from django.core.management.sql import emit_post_migrate_signal

    emit_post_migrate_signal(verbosity=0, interactive=False, db="default")


@pytest.fixture
def nav():
    """Follow a link of the main navigation: open its menu, then click the item."""

    def follow(page, menu: str, label: str) -> None:
        page.click(f"nav[aria-label='Main'] summary:text-is('{menu}')")
        page.click(f"nav[aria-label='Main'] details[open] a:text-is('{label}')")

    return follow
