"""The desk's scenario in a real browser: a team member opens Getting Help, follows a system's "Issue Template"
link, files a configuration change; the system owner (a member of the owner team with a sign-in) finds it in
their queue and opens it."""

import re

import pytest
from playwright.sync_api import expect

from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory
from tests.browser.pages import csp_violations, sign_in, sign_out

pytestmark = pytest.mark.browser


@pytest.fixture
def okta(transactional_db):
    owner = PersonFactory(name="Samuel Oduya", email="samuel@example.com")
    team = TeamFactory(name="Okta SSO owners", slug="sysowners-okta-sso", members=[owner])
    okta = SystemFactory(
        name="Okta SSO",
        slug="okta-sso",
        label="corpsys::okta-sso",
        owner_team=team,
        issue_template_url="https://tracker.example.com/issues?template=okta-sso",
    )
    SystemFactory(name="Zoom", slug="zoom", owner_team=TeamFactory(name="Zoom owners"))
    return okta


def test_member_files_a_configuration_change_and_the_owner_sees_it(live_server, page, make_user, okta, nav):
    member = make_user(
        username="lucas", person=PersonFactory(name="Lucas Ferreira", email="lucas@example.com")
    )
    make_user("system_owner", username="samuel", person=okta.owner_team.members.get())
    base = live_server.url

    sign_in(page, base, member.username)
    nav(page, "Help", "Getting Help")
    page.wait_for_url(re.compile(r"/systems/help/"))
    row = page.locator("#results tbody tr", has_text="Okta SSO")
    link = row.locator("a:has-text('Report an issue')")
    assert link.get_attribute("href") == "/desk/new/configuration-change/?system=okta-sso"
    link.click()
    page.wait_for_url(re.compile(r"/desk/new/configuration-change/\?system=okta-sso"))
    assert page.locator("select[name=system]").input_value() == "okta-sso"  # prefilled

    # Submitting without the required answers shows the errors beside the fields and files nothing.
    page.fill("input[name=subject]", "Session lifetime too short")
    page.click("button:has-text('File request')")
    expect(page.locator(".field-error").first).to_be_visible()
    assert page.locator("select[name=system]").input_value() == "okta-sso"

    page.select_option("select[name=f_environment]", "Production")
    page.select_option("select[name=f_risk]", "Low")
    page.fill("textarea[name=f_change_summary]", "Raise the session lifetime to 12 hours.")
    page.click("button:has-text('File request')")
    page.wait_for_url(re.compile(r"/desk/requests/\d+/$"))
    title = page.get_by_test_id("request-title").inner_text()
    reference = title.split(":")[0]
    assert "Session lifetime too short" in title
    assert "Okta SSO owners" in page.get_by_test_id("request-queue").inner_text()
    assert csp_violations(page) == []
    sign_out(page)

    sign_in(page, base, "samuel")
    nav(page, "Desk", "Queues")
    page.wait_for_url(re.compile(r"/desk/queues/"))
    row = page.locator("#results tbody tr", has_text=reference)
    expect(row).to_have_count(1)
    assert "Session lifetime too short" in row.inner_text() and "Okta SSO" in row.inner_text()
    row.locator(f"a:has-text('{reference}')").click()
    page.wait_for_url(re.compile(r"/desk/requests/\d+/$"))
    assert page.get_by_test_id("request-title").inner_text() == title
    expect(page.get_by_test_id("escalate-form")).to_be_visible()  # the owner works it
    assert csp_violations(page) == []

    assert page.problems.console == [], page.problems.console
    # The one failed response is the form sent without its answers: 422 with the errors inline, by design.
    unexpected = [f for f in page.problems.failed if not f.startswith("422 ") or "/desk/new/" not in f]
    assert unexpected == [], unexpected
