"""Joiners, movers and leavers from directory changes; bundles; deadlines; the leaver dashboard."""

import datetime

import pytest
from django.urls import reverse
from django.utils import timezone

from gatehouse.access import lifecycle
from gatehouse.access.models import FulfilmentTask, LifecycleEvent
from gatehouse.access.tests.factories import BundleFactory, EntitlementFactory, GrantFactory
from gatehouse.catalog.models import ComplianceScope, ContactRole
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory import services as directory
from gatehouse.directory.tests.factories import PersonFactory

pytestmark = pytest.mark.django_db

LEAVER_PAGE_QUERIES = 10
EVENT_API_QUERIES = 8
EVENT_LIST_PAGE_QUERIES = 22  # constant: the page, its filters and navigation, not per row


@pytest.fixture
def catalog():
    chat = SystemFactory(slug="slack", name="Slack", tier=3, effective_tier=3)
    wiki = SystemFactory(slug="wiki", name="Wiki", tier=3, effective_tier=3)
    git = SystemFactory(slug="gitlab", name="GitLab", tier=2, effective_tier=2)
    return {
        "chat": EntitlementFactory(system=chat, slug="member", is_baseline=True),
        "wiki": EntitlementFactory(system=wiki, slug="reader"),
        "dev": EntitlementFactory(system=git, slug="developers"),
        "sales": EntitlementFactory(system=wiki, slug="sales-space"),
    }


@pytest.fixture
def bundles(catalog):
    BundleFactory(slug="eng", name="Engineering", department="Engineering", entitlements=[catalog["dev"]])
    BundleFactory(slug="sales", name="Sales", department="Sales", entitlements=[catalog["sales"]])


def tasks(person, kind):
    return set(
        FulfilmentTask.objects.filter(person=person, kind=kind).values_list("entitlement__slug", flat=True)
    )


def test_joiner_gets_baseline_and_bundle(bundles):
    person = directory.create_person(
        actor=SYSTEM, email="new@example.com", name="New", department="Engineering"
    )
    event = LifecycleEvent.objects.get(person=person)
    assert event.kind == "joiner"
    assert tasks(person, "grant") == {"member", "developers"}
    assert set(FulfilmentTask.objects.values_list("reason", flat=True)) == {"joiner"}


def test_a_system_marked_baseline_gives_its_standard_entitlement_to_joiners(db):
    vpn = SystemFactory(slug="vpn", name="VPN", baseline_entitlement=True)
    EntitlementFactory(system=vpn, slug="admins", privilege="admin")
    EntitlementFactory(system=vpn, slug="users")
    EntitlementFactory(system=vpn, slug="zz-other")
    marked = SystemFactory(slug="mail", name="Mail", baseline_entitlement=True)
    EntitlementFactory(system=marked, slug="a-plain")
    EntitlementFactory(system=marked, slug="mailbox", is_baseline=True)
    person = directory.create_person(actor=SYSTEM, email="joiner@example.com", name="Joiner")
    assert tasks(person, "grant") == {"users", "mailbox"}


def test_joiner_without_anything_to_grant_records_nothing(db):
    person = directory.create_person(actor=SYSTEM, email="new@example.com", name="New")
    assert not LifecycleEvent.objects.filter(person=person).exists()


def test_mover_gets_the_difference(catalog, bundles):
    person = PersonFactory(department="Engineering")
    GrantFactory(person=person, entitlement=catalog["chat"], source="baseline")
    dev = GrantFactory(person=person, entitlement=catalog["dev"], source="bundle")
    directory.update_person(person, actor=SYSTEM, department="Sales")
    event = LifecycleEvent.objects.get(person=person, kind="mover")
    assert tasks(person, "grant") == {"sales-space"}
    assert tasks(person, "revoke") == {"developers"}
    assert FulfilmentTask.objects.get(kind="revoke").grant == dev
    assert event.details["department"] == ["Engineering", "Sales"]


def test_mover_keeps_requested_access(catalog, bundles):
    person = PersonFactory(department="Engineering")
    GrantFactory(person=person, entitlement=catalog["dev"], source="request")
    directory.update_person(person, actor=SYSTEM, department="Sales")
    assert tasks(person, "revoke") == set()


def test_leaver_revokes_everything_with_deadlines(catalog, make_user):
    sox = SystemFactory(slug="erp", name="ERP", tier=3, effective_tier=3)
    sox.compliance_scopes.add(ComplianceScope.objects.get_or_create(code="sox", defaults={"name": "SOX"})[0])
    tier1 = SystemFactory(slug="okta", name="Okta", tier=1, effective_tier=1)
    person = PersonFactory()
    for entitlement in (
        catalog["chat"],
        catalog["wiki"],
        EntitlementFactory(system=sox),
        EntitlementFactory(system=tier1),
    ):
        GrantFactory(person=person, entitlement=entitlement)
    before = timezone.now()
    directory.update_person(person, actor=SYSTEM, end_date=datetime.date.today() - datetime.timedelta(days=1))
    event = LifecycleEvent.objects.get(person=person, kind="leaver")
    due = {
        t.entitlement.system.slug: t.due_at - before
        for t in FulfilmentTask.objects.filter(lifecycle_event=event)
    }
    assert set(due) == {"slack", "wiki", "erp", "okta"}
    for slug in ("slack", "erp", "okta"):
        assert datetime.timedelta(hours=23) < due[slug] <= datetime.timedelta(hours=24, minutes=1)
    assert datetime.timedelta(days=4, hours=23) < due["wiki"] <= datetime.timedelta(days=5, minutes=1)


def test_leaver_from_refresh_statuses(catalog):
    person = PersonFactory(end_date=datetime.date.today() + datetime.timedelta(days=3), status="leaving")
    GrantFactory(person=person, entitlement=catalog["wiki"])
    directory.refresh_statuses(today=datetime.date.today() + datetime.timedelta(days=5))
    assert LifecycleEvent.objects.filter(person=person, kind="leaver").exists()
    assert tasks(person, "revoke") == {"reader"}


def test_no_change_no_event(catalog, bundles):
    person = PersonFactory(department="Engineering")
    directory.update_person(person, actor=SYSTEM, location="Berlin")
    assert not LifecycleEvent.objects.filter(person=person).exists()


def test_critical_systems_setting(settings):
    settings.GATEHOUSE_ACCESS_CRITICAL_SYSTEMS = "vault, chat"
    assert lifecycle.critical_system_slugs() == {"vault", "chat"}


def test_bundle_needs_department_or_title(admin_user, catalog):
    from django.core.exceptions import PermissionDenied, ValidationError

    with pytest.raises(ValidationError):
        lifecycle.create_bundle(actor=admin_user, slug="b", name="B")
    with pytest.raises(PermissionDenied):
        lifecycle.create_bundle(actor=None, slug="b", name="B", department="X")
    bundle = lifecycle.create_bundle(
        actor=admin_user, slug="b", name="B", title="SRE", entitlements=[catalog["dev"]]
    )
    assert [b.slug for b in lifecycle.matching_bundles("Any", "sre")] == [bundle.slug]


def _leaver_with_tasks(catalog, n_systems=1):
    person = PersonFactory()
    for _ in range(n_systems):
        GrantFactory(person=person, entitlement=EntitlementFactory(system=SystemFactory()))
    GrantFactory(person=person, entitlement=catalog["chat"])
    directory.update_person(person, actor=SYSTEM, end_date=datetime.date.today() - datetime.timedelta(days=1))
    return person


def test_leaver_dashboard_open_and_overdue(catalog, client_for, admin_user, member_user):
    person = _leaver_with_tasks(catalog)
    FulfilmentTask.objects.filter(person=person, entitlement=catalog["chat"]).update(
        due_at=timezone.now() - datetime.timedelta(hours=1)
    )
    rows = lifecycle.leaver_dashboard(admin_user)
    assert rows[0]["open"] == 2 and rows[0]["overdue"] == 1
    body = client_for(admin_user).get(reverse("access:leavers")).content.decode()
    assert person.name in body and "1 overdue" in body
    assert lifecycle.leaver_dashboard(member_user) == []


@pytest.mark.parametrize("rows", [2, 12])
def test_leaver_page_query_count(rows, catalog, client_for, admin_user, django_assert_max_num_queries):
    for _ in range(rows):
        _leaver_with_tasks(catalog, n_systems=2)
    client = client_for(admin_user)
    with django_assert_max_num_queries(LEAVER_PAGE_QUERIES):
        assert client.get(reverse("access:leavers")).status_code == 200


@pytest.mark.parametrize("rows", [2, 12])
def test_event_api_and_page_query_count(
    rows, catalog, client, client_for, token_for, admin_user, django_assert_max_num_queries
):
    for _ in range(rows):
        _leaver_with_tasks(catalog)
    auth = {"HTTP_AUTHORIZATION": token_for(admin_user)}
    with django_assert_max_num_queries(EVENT_API_QUERIES):
        response = client.get("/api/v1/access/lifecycle-events?kind=leaver&open=true", **auth)
    assert response.json()["count"] == rows
    assert response.json()["results"][0]["open_count"] == 2
    with django_assert_max_num_queries(EVENT_LIST_PAGE_QUERIES):
        assert client_for(admin_user).get(reverse("access:event_list")).status_code == 200


def test_event_visibility(catalog, make_user, auditor_user):
    manager = PersonFactory()
    report = PersonFactory(manager=manager)
    GrantFactory(person=report, entitlement=catalog["wiki"])
    directory.update_person(report, actor=SYSTEM, end_date=datetime.date.today() - datetime.timedelta(days=1))
    deprov = PersonFactory()
    add_contact(catalog["wiki"].system, ContactRole.DEPROVISIONER, person=deprov)
    assert lifecycle.visible_events(make_user(person=manager, username="m")).count() == 1
    assert lifecycle.visible_events(make_user(person=deprov, username="d")).count() == 1
    assert lifecycle.visible_events(make_user(person=PersonFactory(), username="x")).count() == 0
    assert lifecycle.visible_events(auditor_user).count() == 1


def test_bundle_api_and_pages(client, client_for, token_for, admin_user, auditor_user, catalog):
    admin = {"HTTP_AUTHORIZATION": token_for(admin_user)}
    response = client.post(
        "/api/v1/access/bundles",
        {
            "slug": "eng",
            "name": "Eng",
            "department": "Engineering",
            "entitlements": ["gitlab/developers", "x/y"],
        },
        content_type="application/json",
        **admin,
    )
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "entitlements", 1]
    response = client.post(
        "/api/v1/access/bundles",
        {"slug": "eng", "name": "Eng", "department": "Engineering", "entitlements": ["gitlab/developers"]},
        content_type="application/json",
        **admin,
    )
    assert response.status_code == 201
    auditor = {"HTTP_AUTHORIZATION": token_for(auditor_user)}
    assert client.get("/api/v1/access/bundles", **auditor).json()["count"] == 1
    assert (
        client.post(
            "/api/v1/access/bundles",
            {"slug": "a", "name": "A", "title": "x"},
            content_type="application/json",
            **auditor,
        ).status_code
        == 403
    )
    page = client_for(admin_user).get(reverse("access:bundle_list")).content.decode()
    assert "Eng" in page
