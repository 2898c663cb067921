"""Renew / do-not-renew on the person and system pages' grant rows; links between a desk request and its
access request."""

# ruff: noqa: F811  (the `world` fixture is imported from request_world)
from __future__ import annotations

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from gatehouse.access import expiry
from gatehouse.access import requests as access_requests
from gatehouse.access.tests.factories import EntitlementFactory, GrantFactory
from gatehouse.access.tests.request_world import world  # noqa: F401
from gatehouse.access.views import mark_renewable
from gatehouse.catalog.models import ContactRole
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.directory.tests.factories import PersonFactory

RENEW = 'action="/access/grants/{}/renew/"'


@pytest.fixture
def rows(db, make_user):
    """A system owned by `owner` with a holder who has one open-ended and one time-bound grant, and another
    system (not the owner's) with a time-bound grant of the same holder."""
    owner_person = PersonFactory(name="Olga Owner")
    holder = PersonFactory(name="Hal Holder", manager=owner_person)
    mine = SystemFactory(name="Owned", slug="owned")
    add_contact(mine, ContactRole.BUSINESS_OWNER, person=owner_person)
    other = SystemFactory(name="Elsewhere", slug="elsewhere")
    soon = timezone.now() + datetime.timedelta(days=5)
    grants = {
        "open": GrantFactory(person=holder, entitlement=EntitlementFactory(system=mine, name="Forever")),
        "bound": GrantFactory(
            person=holder, entitlement=EntitlementFactory(system=mine, name="Bound"), ends_at=soon
        ),
        "other": GrantFactory(
            person=holder, entitlement=EntitlementFactory(system=other, name="Other bound"), ends_at=soon
        ),
    }
    return {
        "holder": holder,
        "mine": mine,
        "other": other,
        "grants": grants,
        "owner": make_user("system_owner", username="olga", person=owner_person),
    }


def _body(client, url):
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_person_page_shows_renewal_to_owners_and_admins_only(rows, client_for, admin_user, auditor_user):
    url = reverse("directory:person", args=[rows["holder"].pk])
    g = rows["grants"]
    owner_page = _body(client_for(rows["owner"]), url)
    assert RENEW.format(g["bound"].pk) in owner_page  # their system, time-bound
    assert RENEW.format(g["open"].pk) not in owner_page  # no end date: nothing to renew
    assert RENEW.format(g["other"].pk) not in owner_page  # not their system (they see it as the manager)
    admin_page = _body(client_for(admin_user), url)
    assert RENEW.format(g["bound"].pk) in admin_page and RENEW.format(g["other"].pk) in admin_page
    auditor_page = _body(client_for(auditor_user), url)
    assert "Bound" in auditor_page and "/renew/" not in auditor_page


def test_system_page_shows_renewal_to_its_owner(rows, client_for, auditor_user):
    g = rows["grants"]
    owner_page = _body(client_for(rows["owner"]), reverse("catalog:system", args=["owned"]))
    assert RENEW.format(g["bound"].pk) in owner_page
    assert "do-not-renew" in owner_page
    assert "/renew/" not in _body(client_for(rows["owner"]), reverse("catalog:system", args=["elsewhere"]))
    assert "/renew/" not in _body(client_for(auditor_user), reverse("catalog:system", args=["owned"]))


def test_do_not_renew_shows_and_the_button_flips(rows, client_for):
    grant = rows["grants"]["bound"]
    expiry.set_do_not_renew(grant, actor=rows["owner"], value=True)
    page = _body(client_for(rows["owner"]), reverse("catalog:system", args=["owned"]))
    assert "Do not renew" in page and "Allow renewal" in page


def test_the_bulk_rule_agrees_with_expiry_can_renew(rows, admin_user, auditor_user, member_user):
    grants = list(rows["grants"].values())
    for user in (rows["owner"], admin_user, auditor_user, member_user):
        mark_renewable(user, grants)
        for grant in grants:
            expected = grant.ends_at is not None and expiry.can_renew(user, grant)
            assert grant.can_renew == expected, (user, grant)


def test_renewal_adds_no_query_per_row(rows, client_for, django_assert_max_num_queries):
    client = client_for(rows["owner"])
    person_url = reverse("directory:person", args=[rows["holder"].pk])
    system_url = reverse("catalog:system", args=["owned"])
    client.get(person_url)
    with django_assert_max_num_queries(100) as person_before:
        client.get(person_url)
    with django_assert_max_num_queries(100) as system_before:
        client.get(system_url)
    soon = timezone.now() + datetime.timedelta(days=9)
    for n in range(6):
        GrantFactory(
            person=rows["holder"],
            entitlement=EntitlementFactory(system=rows["mine"], name=f"More {n}"),
            ends_at=soon,
        )
        GrantFactory(person=PersonFactory(), entitlement=rows["grants"]["bound"].entitlement, ends_at=soon)
    with django_assert_max_num_queries(len(person_before.captured_queries)):
        body = client.get(person_url).content.decode()
    assert body.count("/renew/") == 7
    with django_assert_max_num_queries(len(system_before.captured_queries)):
        body = client.get(system_url).content.decode()
    assert body.count("/renew/") >= 7


# --- desk request <-> access request ---------------------------------------------------------------------------


def test_desk_request_and_access_request_link_to_each_other(world, client_for):
    access_request = access_requests.request_access(
        actor=world.users.member,
        subjects=[world.people.member],
        entitlements=[world.ents.user],
        justification="Onboarding to the identity team.",
    )
    desk_request = access_request.desk_request
    client = client_for(world.users.member)
    desk_page = _body(client, desk_request.get_absolute_url())
    assert f'href="{access_request.get_absolute_url()}"' in desk_page
    assert f"Access request AR-{access_request.pk}" in desk_page
    access_page = _body(client, access_request.get_absolute_url())
    assert f'href="{desk_request.get_absolute_url()}"' in access_page
    assert 'data-testid="desk-request-link"' in access_page


def test_the_desk_page_reads_its_access_request_in_its_own_query(
    world, client_for, django_assert_max_num_queries
):
    """The reverse one-to-one is selected with the desk request: no separate query for the link."""
    access_request = access_requests.request_access(
        actor=world.users.member,
        subjects=[world.people.member],
        entitlements=[world.ents.user],
        justification="Onboarding to the identity team.",
    )
    client = client_for(world.users.member)
    with django_assert_max_num_queries(100) as page:
        body = client.get(access_request.desk_request.get_absolute_url()).content.decode()
    assert 'data-testid="access-request-link"' in body
    table = '"access_accessrequest"'
    alone = [q["sql"] for q in page.captured_queries if q["sql"].split(" FROM ", 1)[-1].startswith(table)]
    assert alone == []
    joined = [q["sql"] for q in page.captured_queries if "desk_request" in q["sql"] and table in q["sql"]]
    assert joined, "the desk request's query joins its access request"
