"""Steps every browser test takes: signing in and out, and reading what the Content Security Policy blocked."""

from __future__ import annotations

from gatehouse.users.tests.factories import PASSWORD


def csp_violations(page) -> list[str]:
    return page.evaluate("window.__cspViolations || []")


def sign_in(page, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{base}/")


def sign_out(page) -> None:
    page.click("button:has-text('Sign out')")
