"""Endpoints in a real browser: a security engineer on the endpoint team opens the KPI dashboard, follows the
failing devices to one, and from its page to the remediation request the import filed for its owner."""

import datetime
import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory
from gatehouse.endpoints import kpis
from gatehouse.endpoints.feeds import parse_feed
from gatehouse.endpoints.feeds import writers as w
from gatehouse.endpoints.imports import import_feed
from gatehouse.endpoints.remediation import remediate
from tests.browser.pages import csp_violations, sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def fleet(transactional_db, make_user):
    engineer = PersonFactory(name="Ines Duarte", email="ines@example.com", department="Security")
    team = TeamFactory(name="Endpoint team", slug="endpoint-team", members=[engineer])
    SystemFactory(name="Jamf Pro", slug="jamf", owner_team=team)
    make_user("security_engineer", username="ines", person=engineer)
    now = timezone.now()
    good, stale = (
        w.DeviceSpec(f"C02{n}", f"{name}-mbp", "macos", "99.0", owner_email=f"{name}@example.com")
        for n, name in ((1, "ana"), (2, "ben"))
    )
    for spec in (good, stale):
        PersonFactory(email=spec.owner_email, department="Sales")
    feeds = {
        "jamf": w.jamf_file([w.jamf_computer(s, index=i, seen=now) for i, s in enumerate((good, stale))]),
        "sentinelone": w.sentinelone_file(
            [
                w.sentinelone_agent(good, index=1, seen=now),
                w.sentinelone_agent(stale, index=2, seen=now - datetime.timedelta(days=12)),
            ]
        ),
    }
    for source, content in feeds.items():
        import_feed(source, parse_feed(source, content), actor=SYSTEM, origin=f"{source}.json")
    remediate()  # what the job queued after each import's commit does
    kpis.take_snapshot()


def test_dashboard_to_failing_device_to_its_remediation_request(live_server, page, fleet, nav):
    base = live_server.url
    sign_in(page, base, "ines")
    nav(page, "Endpoints", "KPIs")
    page.wait_for_url(re.compile(r"/endpoints/kpis/"))
    expect(page.get_by_test_id("stat-security")).to_contain_text("50.0%")
    expect(page.get_by_test_id("stat-security")).to_contain_text("1 of 2")

    page.get_by_test_id("failing-security").click()
    page.wait_for_url(re.compile(r"/endpoints/devices/\?failing=security_tools"))
    rows = page.locator("#results tbody tr")
    expect(rows).to_have_count(1)
    rows.first.locator("a:has-text('ben-mbp')").click()
    page.wait_for_url(re.compile(r"/endpoints/devices/\d+/$"))
    expect(page.get_by_test_id("checks")).to_contain_text("SentinelOne last seen 12 days ago")

    link = page.get_by_test_id("remediations").locator("a", has_text="Fix ben-mbp")
    expect(link).to_have_count(1)
    link.click()
    page.wait_for_url(re.compile(r"/desk/requests/\d+/$"))
    expect(page.get_by_test_id("request-title")).to_contain_text("Fix ben-mbp")
    expect(page.get_by_test_id("request-queue")).to_contain_text("Endpoint team")
    expect(page.locator("body")).to_contain_text("SentinelOne last seen 12 days ago")
    assert csp_violations(page) == [] and page.problems.failed == []
