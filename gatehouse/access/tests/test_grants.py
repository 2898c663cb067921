"""Entitlements and grants: services, permissions, the pages and the API (part A of issue 4)."""

import datetime

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from gatehouse.access import grants
from gatehouse.access.models import Entitlement, Grant
from gatehouse.access.tests.factories import EntitlementFactory, GrantFactory
from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.models import ContactRole
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

pytestmark = pytest.mark.django_db

ENTITLEMENT_LIST_QUERIES = 8
API_LIST_QUERIES = 8


@pytest.fixture
def system():
    return SystemFactory(slug="okta", name="Okta")


@pytest.fixture
def entitlement(system):
    return EntitlementFactory(system=system, slug="engineers", name="Engineers")


@pytest.fixture
def owner(make_user, system):
    person = PersonFactory(email="owner@example.com")
    add_contact(system, ContactRole.BUSINESS_OWNER, person=person)
    return make_user(person=person, username="owner")


# --- services -------------------------------------------------------------------------------------------------


def test_start_grant_records_and_audits(entitlement):
    person = PersonFactory()
    grant = grants.start_grant(actor=SYSTEM, person=person, entitlement=entitlement, source="request")
    assert grant.is_active and grant.source == "request"
    assert AuditEvent.objects.filter(
        object_type="access.grant", object_id=str(grant.pk), action="create"
    ).exists()


def test_start_grant_twice_returns_the_live_grant(entitlement):
    person = PersonFactory()
    first = grants.start_grant(actor=SYSTEM, person=person, entitlement=entitlement, source="request")
    again = grants.start_grant(actor=SYSTEM, person=person, entitlement=entitlement, source="baseline")
    assert again.pk == first.pk and Grant.objects.count() == 1


def test_one_live_grant_is_a_database_rule(entitlement):
    person = PersonFactory()
    GrantFactory(person=person, entitlement=entitlement)
    with pytest.raises(IntegrityError), transaction.atomic():
        GrantFactory(person=person, entitlement=entitlement)


def test_max_duration_caps_the_end(system):
    entitlement = EntitlementFactory(system=system, max_duration_days=30)
    start = timezone.now()
    grant = grants.start_grant(
        actor=SYSTEM, person=PersonFactory(), entitlement=entitlement, source="request", started_at=start
    )
    assert grant.ends_at == start + datetime.timedelta(days=30)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"source": "magic"}, "source"),
        ({"source": "request", "ends_at": timezone.now() - datetime.timedelta(days=1)}, "ends_at"),
    ],
)
def test_start_grant_refuses_bad_input(entitlement, kwargs, field):
    with pytest.raises(ValidationError) as exc:
        grants.start_grant(actor=SYSTEM, person=PersonFactory(), entitlement=entitlement, **kwargs)
    assert field in exc.value.message_dict
    assert not Grant.objects.exists()


def test_nobody_grants_to_a_leaver(entitlement):
    leaver = PersonFactory(status="terminated")
    with pytest.raises(ValidationError) as exc:
        grants.start_grant(actor=SYSTEM, person=leaver, entitlement=entitlement, source="request")
    assert "person" in exc.value.message_dict


def test_end_grant_keeps_the_row_and_refuses_twice(entitlement, admin_user):
    grant = grants.start_grant(actor=SYSTEM, person=PersonFactory(), entitlement=entitlement, source="import")
    grants.end_grant(grant, actor=admin_user, reason="left the team")
    grant.refresh_from_db()
    assert grant.ended_at and grant.ended_by == admin_user and grant.end_reason == "left the team"
    with pytest.raises(ValidationError):
        grants.end_grant(grant, actor=admin_user, reason="again")
    with pytest.raises(ValidationError):
        grants.end_grant(
            grants.start_grant(actor=SYSTEM, person=grant.person, entitlement=entitlement, source="request"),
            actor=admin_user,
            reason=" ",
        )
    assert Grant.objects.filter(person=grant.person).count() == 2  # history plus the new live one


def test_active_grants_filters(entitlement, system):
    person = PersonFactory()
    live = GrantFactory(person=person, entitlement=entitlement)
    GrantFactory(person=person, entitlement=EntitlementFactory(system=system), ended_at=timezone.now())
    assert list(grants.active_grants(person=person)) == [live]
    assert list(grants.active_grants(system=system)) == [live]
    assert list(grants.active_grants(entitlement=entitlement)) == [live]


def test_provisioners_and_deprovisioners_via_people_and_teams(system, make_user):
    alice, bob = PersonFactory(email="alice@example.com"), PersonFactory(email="bob@example.com")
    alice_user = make_user(person=alice, username="alice")
    bob_user = make_user(person=bob, username="bob")
    make_user(person=PersonFactory(), username="idle")
    add_contact(system, ContactRole.PROVISIONER, person=alice)
    add_contact(system, ContactRole.DEPROVISIONER, team=TeamFactory(members=[alice, bob]))
    assert grants.provisioners(system) == [alice_user]
    assert set(grants.deprovisioners(system)) == {alice_user, bob_user}


# --- permissions ----------------------------------------------------------------------------------------------


def test_visibility(entitlement, owner, make_user, admin_user, auditor_user):
    manager = PersonFactory(email="boss@example.com")
    report = PersonFactory(email="report@example.com", manager=manager)
    stranger = PersonFactory(email="stranger@example.com")
    other = EntitlementFactory()
    mine = GrantFactory(person=report, entitlement=other)
    on_owned = GrantFactory(person=stranger, entitlement=entitlement)
    hidden = GrantFactory(person=stranger, entitlement=other)
    boss = make_user(person=manager, username="boss")
    member = make_user(person=report, username="report")
    assert set(grants.visible_grants(admin_user)) == {mine, on_owned, hidden}
    assert set(grants.visible_grants(auditor_user)) == {mine, on_owned, hidden}
    assert set(grants.visible_grants(boss)) == {mine}
    assert set(grants.visible_grants(member)) == {mine}
    assert set(grants.visible_grants(owner)) == {on_owned}


def test_who_may_end(entitlement, owner, make_user, auditor_user, member_user, system):
    grant = GrantFactory(entitlement=entitlement)
    for user in (auditor_user, member_user):
        with pytest.raises(PermissionDenied):
            grants.end_grant(grant, actor=user, reason="no")
    deprov = PersonFactory()
    add_contact(system, ContactRole.DEPROVISIONER, person=deprov)
    grants.end_grant(grant, actor=make_user(person=deprov, username="deprov"), reason="offboarding")


def test_owner_manages_entitlements_of_their_systems_only(owner, system, auditor_user):
    made = grants.create_entitlement(
        actor=owner, system=system, slug="admins", name="Admins", privilege="admin"
    )
    grants.update_entitlement(made, actor=owner, description="Full control")
    with pytest.raises(PermissionDenied):
        grants.create_entitlement(actor=owner, system=SystemFactory(), slug="x", name="X")
    with pytest.raises(PermissionDenied):
        grants.update_entitlement(made, actor=auditor_user, name="Nope")


@pytest.mark.parametrize(
    "fields, field",
    [
        ({"privilege": "admin", "is_baseline": True}, "is_baseline"),
        ({"privilege": "admin", "approval_policy": "none"}, "approval_policy"),
        ({"connector": "okta"}, "external_id"),
        ({"connector": "gitlab", "external_id": "g", "external_role": "boss"}, "external_role"),
        ({"colour": "red"}, "colour"),
        ({"slug": "engineers"}, "slug"),
    ],
)
def test_entitlement_rules(admin_user, entitlement, system, fields, field):
    fields = {"slug": "new", "name": "New", **fields}
    with pytest.raises(ValidationError) as exc:
        grants.create_entitlement(actor=admin_user, system=system, **fields)
    assert field in exc.value.message_dict
    assert Entitlement.objects.count() == 1


def test_entitlement_with_history_is_not_deleted(admin_user, entitlement):
    GrantFactory(entitlement=entitlement, ended_at=timezone.now())
    with pytest.raises(ValidationError):
        grants.delete_entitlement(entitlement, actor=admin_user)
    spare = EntitlementFactory(system=entitlement.system)
    grants.delete_entitlement(spare, actor=admin_user)


# --- pages ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [3, 30])
def test_entitlement_list_query_count(rows, client_for, member_user, django_assert_max_num_queries):
    for _ in range(rows):
        GrantFactory(entitlement=EntitlementFactory(owner=PersonFactory()))
    client = client_for(member_user)
    with django_assert_max_num_queries(ENTITLEMENT_LIST_QUERIES):
        response = client.get(reverse("access:entitlement_list"))
    assert response.status_code == 200


def test_entitlement_list_filters(client_for, member_user, entitlement):
    EntitlementFactory(name="Root", privilege="admin")
    client = client_for(member_user)
    body = client.get(reverse("access:entitlement_list"), {"privilege": "admin"}).content.decode()
    assert "Root" in body and "Engineers" not in body
    body = client.get(reverse("access:entitlement_list"), {"system": "okta"}).content.decode()
    assert "Engineers" in body and "Root" not in body


def test_entitlement_page_shows_holders_and_lets_the_owner_end(client_for, owner, entitlement):
    grant = GrantFactory(entitlement=entitlement, person=PersonFactory(name="Hilda Holder"))
    client = client_for(owner)
    body = client.get(entitlement.get_absolute_url()).content.decode()
    assert "Hilda Holder" in body and reverse("access:grant_end", args=[grant.pk]) in body
    response = client.post(reverse("access:grant_end", args=[grant.pk]), {"reason": "no longer needed"})
    assert response.status_code == 302
    grant.refresh_from_db()
    assert grant.ended_at is not None


def test_member_cannot_end_or_edit(client_for, member_user, entitlement):
    grant = GrantFactory(entitlement=entitlement, person=member_user.person or PersonFactory())
    client = client_for(member_user)
    assert client.get(reverse("access:entitlement_edit", args=[entitlement.pk])).status_code == 403
    assert client.get(reverse("access:entitlement_add")).status_code == 403
    client.post(reverse("access:grant_end", args=[grant.pk]), {"reason": "x"})
    grant.refresh_from_db()
    assert grant.ended_at is None


def test_owner_adds_an_entitlement_through_the_page(client_for, owner, system):
    client = client_for(owner)
    assert client.get(reverse("access:entitlement_add"), {"system": "okta"}).status_code == 200
    response = client.post(
        reverse("access:entitlement_add"),
        {
            "system": "okta",
            "name": "Readers",
            "slug": "readers",
            "privilege": "standard",
            "approval_policy": "default",
            "is_requestable": "on",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Entitlement.objects.filter(system=system, slug="readers").exists()


def test_person_page_shows_access_and_history(client_for, make_user, entitlement):
    person = PersonFactory(name="Pat Person")
    live = GrantFactory(person=person, entitlement=entitlement)
    GrantFactory(
        person=person,
        entitlement=EntitlementFactory(name="Old Thing"),
        ended_at=timezone.now(),
        end_reason="moved",
    )
    client = client_for(make_user(person=person, username="pat"))
    body = client.get(person.get_absolute_url()).content.decode()
    assert 'data-testid="person-access"' in body and live.entitlement.name in body
    assert "Old Thing" in body and "moved" in body


def test_person_page_hides_access_from_a_stranger(client_for, member_user, entitlement):
    person = PersonFactory()
    GrantFactory(person=person, entitlement=entitlement)
    body = client_for(member_user).get(person.get_absolute_url()).content.decode()
    assert 'data-testid="person-access"' not in body


def test_system_page_shows_who_holds_what(client_for, admin_user, entitlement, system):
    GrantFactory(entitlement=entitlement, person=PersonFactory(name="Holly Holder"))
    body = client_for(admin_user).get(reverse("catalog:system", args=[system.slug])).content.decode()
    assert 'data-testid="system-access"' in body and "Holly Holder" in body and "Engineers" in body


# --- API ------------------------------------------------------------------------------------------------------


def test_api_entitlement_crud(client, token_for, admin_user, system):
    auth = {"HTTP_AUTHORIZATION": token_for(admin_user)}
    url = "/api/v1/access/entitlements"
    response = client.post(
        url, {"system": "okta", "slug": "ops", "name": "Ops"}, content_type="application/json", **auth
    )
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    response = client.patch(f"{url}/{pk}", {"privilege": "admin"}, content_type="application/json", **auth)
    assert response.json()["privilege"] == "admin"
    assert client.get(f"{url}?privilege=admin", **auth).json()["count"] == 1
    assert client.delete(f"{url}/{pk}", **auth).status_code == 204


def test_api_bad_input_and_permissions(client, token_for, admin_user, auditor_user, member_user, system):
    url = "/api/v1/access/entitlements"
    admin = {"HTTP_AUTHORIZATION": token_for(admin_user)}
    response = client.post(
        url, {"system": "nope", "slug": "a", "name": "A"}, content_type="application/json", **admin
    )
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "system"]
    response = client.post(
        url, {"system": "okta", "slug": "a b", "name": "A"}, content_type="application/json", **admin
    )
    assert response.status_code == 422
    for user in (auditor_user, member_user):
        auth = {"HTTP_AUTHORIZATION": token_for(user)}
        response = client.post(
            url, {"system": "okta", "slug": "a", "name": "A"}, content_type="application/json", **auth
        )
        assert response.status_code == 403
    assert client.get(url).status_code == 401
    assert not Entitlement.objects.exists()


def test_api_grants_list_detail_end(client, token_for, admin_user, member_user, entitlement):
    grant = GrantFactory(entitlement=entitlement)
    admin = {"HTTP_AUTHORIZATION": token_for(admin_user)}
    member = {"HTTP_AUTHORIZATION": token_for(member_user)}
    assert client.get("/api/v1/access/grants?active=true", **admin).json()["count"] == 1
    assert client.get("/api/v1/access/grants", **member).json()["count"] == 0
    assert client.get(f"/api/v1/access/grants/{grant.pk}", **member).status_code == 404
    end = f"/api/v1/access/grants/{grant.pk}/end"
    assert client.post(end, {"reason": ""}, content_type="application/json", **admin).status_code == 422
    response = client.post(end, {"reason": "audit finding"}, content_type="application/json", **admin)
    assert response.status_code == 200 and response.json()["active"] is False
    assert client.post(end, {"reason": "again"}, content_type="application/json", **admin).status_code == 422


@pytest.mark.parametrize("rows", [3, 30])
def test_api_grant_list_query_count(rows, client, token_for, admin_user, django_assert_max_num_queries):
    for _ in range(rows):
        GrantFactory(ended_by=admin_user, ended_at=timezone.now())
    auth = {"HTTP_AUTHORIZATION": token_for(admin_user)}
    with django_assert_max_num_queries(API_LIST_QUERIES):
        response = client.get("/api/v1/access/grants", **auth)
    assert response.json()["count"] == rows


@pytest.mark.parametrize("rows", [3, 30])
def test_api_entitlement_list_query_count(
    rows, client, token_for, member_user, django_assert_max_num_queries
):
    for _ in range(rows):
        EntitlementFactory(owner=PersonFactory())
    auth = {"HTTP_AUTHORIZATION": token_for(member_user)}
    with django_assert_max_num_queries(API_LIST_QUERIES):
        response = client.get("/api/v1/access/entitlements", **auth)
    assert response.json()["count"] == rows
