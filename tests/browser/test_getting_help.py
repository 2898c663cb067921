"""The issue's scenario in a real browser: sign in, open Getting Help, search for Okta, open it, see its owners."""

import re

import pytest
from playwright.sync_api import expect

from gatehouse.catalog.models import ContactRole
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory
from gatehouse.users.tests.factories import PASSWORD
from tests.browser.pages import csp_violations

pytestmark = pytest.mark.browser


@pytest.fixture
def catalog(transactional_db):
    business = PersonFactory(name="Grace Lindqvist", email="grace@example.com")
    technical = PersonFactory(name="Samuel Oduya", email="samuel@example.com")
    team = TeamFactory(
        name="Okta SSO owners",
        slug="sysowners-okta-sso",
        chat_handle="@sysowners-okta-sso",
        mention_handle="@corpsec/sys/okta",
        members=[technical],
    )
    okta = SystemFactory(
        name="Okta SSO",
        slug="okta-sso",
        label="corpsys::okta-sso",
        owner_team=team,
        tier=1,
        effective_tier=1,
        data_classification="red",
        access_request_url="https://tracker.example.com/access?template=okta-sso",
        issue_template_url="https://tracker.example.com/issues?template=okta-sso",
    )
    add_contact(okta, ContactRole.BUSINESS_OWNER, person=business)
    add_contact(okta, ContactRole.TECHNICAL_OWNER, person=technical)
    for name in ("Zoom", "Slack", "GitLab"):
        SystemFactory(
            name=name, slug=name.lower(), owner_team=TeamFactory(chat_handle=f"@sysowners-{name.lower()}")
        )
    return okta


def test_find_okta_through_getting_help(live_server, page, make_user, catalog, nav):
    make_user(username="alex")

    # Every page needs sign-in: the home page sends us to the login form.
    page.goto(f"{live_server.url}/")
    assert "/login/" in page.url
    page.fill("input[name=username]", "alex")
    page.fill("input[name=password]", PASSWORD)
    page.click("button:has-text('Sign in')")
    page.wait_for_url(f"{live_server.url}/")
    assert csp_violations(page) == []

    nav(page, "Help", "Getting Help")
    page.wait_for_url(re.compile(r"/systems/help/"))
    rows = page.locator("#results tbody tr")
    assert rows.count() == 4
    assert page.evaluate("typeof window.htmx") == "object", "htmx did not load"

    # Live search: htmx swaps the results without reloading the page (the marker survives) and updates the URL.
    page.evaluate("window.__samePage = true")
    page.locator("input[name=q]").press_sequentially("Okta", delay=50)
    expect(rows).to_have_count(1)  # not wait_for_function: its string is eval, which the CSP rightly blocks
    page.wait_for_url(re.compile(r"q=Okta"))
    assert page.evaluate("window.__samePage") is True, (
        "the search reloaded the page instead of swapping results"
    )
    row = rows.first
    assert "corpsys::okta-sso" in row.inner_text()
    assert "@corpsec/sys/okta" in row.inner_text() and "@sysowners-okta-sso" in row.inner_text()
    assert csp_violations(page) == []

    # Following a result must not search again: pressing the mouse takes the focus from the box, which used to
    # fire a "change" search whose swap could replace the link before the button came up, and the click was lost
    # (a flaky CI run found it).
    searches_after_click = []
    page.on("request", lambda r: "/systems/help/" in r.url and searches_after_click.append(r.url))
    row.locator("a:has-text('Okta SSO')").click()
    page.wait_for_url(f"{live_server.url}/systems/okta-sso/")
    assert searches_after_click == []
    assert page.locator("h1").inner_text().startswith("Okta SSO")
    assert page.get_by_test_id("system-label").inner_text() == "corpsys::okta-sso"
    assert page.get_by_test_id("business-owners").inner_text() == "Grace Lindqvist"
    assert page.get_by_test_id("technical-owners").inner_text() == "Samuel Oduya"
    assert page.locator("text=@sysowners-okta-sso").count() >= 1
    # Styles applied means the static files were served: Pico sets the body font, our CSS colours tier badges.
    tier_colour = page.locator("h1 .badge.tier-1").evaluate("e => getComputedStyle(e).backgroundColor")
    assert tier_colour == "rgb(198, 40, 40)"
    assert csp_violations(page) == []

    assert page.problems.console == [], page.problems.console
    assert page.problems.failed == [], page.problems.failed
