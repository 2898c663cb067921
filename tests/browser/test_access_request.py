# ruff: noqa: F811  (the `world` fixture is imported from request_world)
"""The access request scenario in a real browser (issue 4): a member asks for an entitlement, their manager
approves, the system owner approves, a provisioner completes the grant task by hand with evidence, and the grant
shows on the member's person page."""

import re

import pytest
from playwright.sync_api import expect

from gatehouse.access.models import AccessRequest, FulfilmentTask, Grant
from gatehouse.access.tests.request_world import world  # noqa: F401
from tests.browser.pages import csp_violations, sign_in, sign_out

pytestmark = pytest.mark.browser


def approve_first_waiting(page, base: str, nav) -> None:
    nav(page, "Access", "Approvals")
    page.wait_for_url(re.compile(r"/access/approvals/"))
    row = page.locator("#results tbody tr", has_text="Lucas Member")
    row.locator("a:has-text('Decide')").click()
    page.wait_for_url(re.compile(r"/access/approvals/\d+/decide/"))
    page.fill("textarea[name=comment]", "Looks right.")
    page.click("button[value=approve]")
    page.wait_for_url(re.compile(r"/access/approvals/$"))
    expect(page.locator(".message").first).to_contain_text("Approved")


def test_request_manager_and_owner_approve_provisioner_grants(
    live_server, page, world, transactional_db, nav
):
    base = live_server.url
    ent = world.ents.user

    # The member asks.
    sign_in(page, base, "lucas")
    nav(page, "Access", "My access")
    page.wait_for_url(re.compile(r"/access/requests/"))
    page.get_by_test_id("request-access").click()
    page.wait_for_url(re.compile(r"/access/requests/new/"))
    page.select_option("select[name=entitlements]", [str(ent.pk)])
    page.fill("textarea[name=justification]", "I join the identity team.")
    page.click("button:has-text('Request access')")
    page.wait_for_url(re.compile(r"/access/requests/\d+/$"))
    expect(page.get_by_test_id("access-request-state")).to_have_text("Waiting for approval")
    assert csp_violations(page) == []
    sign_out(page)

    # The manager, then the system owner, approve from their inbox.
    sign_in(page, base, "mona")
    approve_first_waiting(page, base, nav)
    sign_out(page)
    sign_in(page, base, "omar")
    approve_first_waiting(page, base, nav)
    sign_out(page)
    access_request = AccessRequest.objects.get()
    assert access_request.state == "approved"
    task = FulfilmentTask.objects.get(request_item__access_request=access_request)
    assert task.state == "manual"

    # The provisioner does it by hand and records the evidence on the task page (part C).
    sign_in(page, base, "pia")
    page.goto(f"{base}/access/tasks/{task.pk}/")
    page.fill("textarea[name=evidence]", "Added in the Okta admin console, ticket OPS-42.")
    page.click("button:has-text('Mark done')")
    expect(page.locator(".message").first).to_contain_text("is done")
    assert csp_violations(page) == []
    sign_out(page)
    assert Grant.objects.filter(person=world.people.member, entitlement=ent, ended_at__isnull=True).exists()

    # The member sees the grant on their person page, and their request's steps with who decided them.
    sign_in(page, base, "lucas")
    page.goto(f"{base}{world.people.member.get_absolute_url()}")
    expect(page.get_by_test_id("person-access")).to_contain_text("Okta user")
    page.goto(f"{base}{access_request.get_absolute_url()}")
    items = page.get_by_test_id("access-items")
    expect(items).to_contain_text("Mona Manager")
    expect(items).to_contain_text("Omar Owner")
    assert csp_violations(page) == []
    assert page.problems.failed == []
