import pytest

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.models import ComplianceScope, ContactRole, System
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.core.api.testing import ApiClient
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(admin_user, token_for):
    return ApiClient(token_for(admin_user))


@pytest.fixture
def member_api(member_user, token_for):
    return ApiClient(token_for(member_user))


@pytest.fixture
def sox(db):
    return ComplianceScope.objects.get_or_create(code="sox", defaults={"name": "SOX"})[0]


def test_system_detail_shows_contacts_owner_team_scopes_and_labels(member_api, sox):
    team = TeamFactory(slug="it", name="IT")
    alice = PersonFactory(email="alice@example.com", name="Alice")
    system = SystemFactory(slug="okta", owner_team=team, tier=3, data_classification="")
    system.compliance_scopes.add(sox)
    add_contact(system, ContactRole.BUSINESS_OWNER, person=alice)
    add_contact(system, ContactRole.PROVISIONER, team=team)

    data = member_api.get("/systems/okta").json()
    assert data["owner_team"] == {"slug": "it", "name": "IT"}
    assert data["business_owners"] == [
        {"person": {"id": alice.pk, "email": "alice@example.com", "name": "Alice"}, "team": None}
    ]
    assert data["provisioners"] == [{"person": None, "team": {"slug": "it", "name": "IT"}}]
    assert data["technical_owners"] == [] and data["deprovisioners"] == []
    assert data["compliance_scopes"] == ["sox"]
    assert data["tier_label"] == "Tier 3 Business Operational"
    assert data["data_classification"] is None and data["data_classification_label"] == ""
    assert "SOX scope makes it at least Tier 2" in data["tier_reasons"]
    assert member_api.get("/systems/nope").status_code == 404


def test_list_systems_filters(member_api, sox):
    team = TeamFactory(slug="it")
    owner = PersonFactory()
    a = SystemFactory(name="Alpha", effective_tier=1, owner_team=team)
    SystemFactory(name="Beta", effective_tier=3, data_classification="red")
    a.compliance_scopes.add(sox)
    add_contact(a, ContactRole.TECHNICAL_OWNER, person=owner)

    def names(**params):
        response = member_api.get("/systems", **params)
        assert response.status_code == 200, response.content
        return [s["name"] for s in response.json()["results"]]

    assert names(tier=1) == ["Alpha"]
    assert names(tier=[1, 3]) == ["Alpha", "Beta"]
    assert names(data_classification="red") == ["Beta"]
    assert names(scope="sox") == ["Alpha"]
    assert names(owner=owner.pk) == ["Alpha"]
    assert names(owner_team="it") == ["Alpha"]
    assert names(q="bet") == ["Beta"]
    bad = member_api.get("/systems", tier=9)
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "tier"]


def test_admin_creates_a_system_by_natural_keys(admin_api, sox):
    TeamFactory(slug="it")
    PersonFactory(email="alice@example.com")
    response = admin_api.post(
        "/systems",
        {
            "slug": "vault",
            "name": "Vault",
            "owner_team": "it",
            "tier": 3,
            "data_classification": "red",
            "compliance_scopes": ["sox"],
            "business_owners": [{"person": "Alice@Example.com"}],
            "provisioners": [{"team": "it"}, {"person": "alice@example.com"}],
            "extra": {"legacy": "kept"},
        },
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["effective_tier"] == 1  # red data makes it Tier 1
    assert [c["team"]["slug"] if c["team"] else c["person"]["email"] for c in data["provisioners"]] == [
        "it",
        "alice@example.com",
    ]
    event = AuditEvent.objects.get(object_type="catalog.system", action="create")
    assert event.changes["business_owners"] == [[], ["person:alice@example.com"]]
    assert event.source == "api"


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"owner_team": "ghosts"}, ["body", "owner_team"]),
        ({"compliance_scopes": ["nope"]}, ["body", "compliance_scopes"]),
        ({"technical_owners": [{"person": "ghost@example.com"}]}, ["body", "technical_owners", 0, "person"]),
        ({"deprovisioners": [{"team": "it"}, {"team": "ghosts"}]}, ["body", "deprovisioners", 1, "team"]),
        ({"provisioners": [{"person": "a@example.com", "team": "it"}]}, ["body", "provisioners", 0]),
        ({"provisioners": [{}]}, ["body", "provisioners", 0]),
        ({"tier": 7}, ["body", "tier"]),
        ({"data_classification": "purple"}, ["body", "data_classification"]),
        ({"access_request_url": "not a url"}, ["body", "access_request_url"]),
        ({"slug": "has space"}, ["body", "slug"]),
    ],
)
def test_bad_references_and_values_are_422_naming_the_place(admin_api, body, loc):
    TeamFactory(slug="it")
    system = SystemFactory(slug="okta")
    before = AuditEvent.objects.count()
    response = admin_api.patch("/systems/okta", body)
    assert response.status_code == 422, response.content
    assert [d["loc"] for d in response.json()["detail"]] == [loc]
    assert AuditEvent.objects.count() == before
    assert System.objects.get(pk=system.pk).last_updated == system.last_updated


def test_patch_replaces_only_the_contact_roles_sent(admin_api):
    alice, bob = PersonFactory(email="alice@example.com"), PersonFactory(email="bob@example.com")
    system = SystemFactory(slug="okta")
    add_contact(system, ContactRole.BUSINESS_OWNER, person=alice)
    add_contact(system, ContactRole.PROVISIONER, person=alice)
    data = admin_api.patch("/systems/okta", {"business_owners": [{"person": "bob@example.com"}]}).json()
    assert [c["person"]["id"] for c in data["business_owners"]] == [bob.pk]
    assert [c["person"]["id"] for c in data["provisioners"]] == [alice.pk]
    assert admin_api.patch("/systems/okta", {"provisioners": []}).json()["provisioners"] == []


def test_api_patch_is_audited_with_source_api_actor_and_request_id(admin_user, token_for):
    api = ApiClient(token_for(admin_user), **{"X-Request-ID": "req-123"})
    SystemFactory(slug="okta", tier=3, effective_tier=3, vendor="Okta")
    response = api.patch("/systems/okta", {"tier": 2, "vendor": "Okta Inc."})
    assert response.status_code == 200
    assert response["X-Request-ID"] == "req-123"
    event = AuditEvent.objects.get(object_type="catalog.system", action="update")
    assert event.source == "api"
    assert event.actor_id == admin_user.pk and event.actor_label == admin_user.username
    assert event.request_id == "req-123"
    assert event.changes == {"tier": [3, 2], "effective_tier": [3, 2], "vendor": ["Okta", "Okta Inc."]}


def test_null_clears_a_choice_and_the_owner_team(admin_api):
    SystemFactory(slug="okta", owner_team=TeamFactory(), auth_method="saml")
    data = admin_api.patch("/systems/okta", {"auth_method": None, "owner_team": None}).json()
    assert data["auth_method"] is None and data["owner_team"] is None
    system = System.objects.get(slug="okta")
    assert system.auth_method == "" and system.owner_team is None


def test_delete_system(admin_api):
    SystemFactory(slug="okta")
    assert admin_api.delete("/systems/okta").status_code == 204
    assert not System.objects.exists()


# Object-level rights


@pytest.fixture
def owner(make_user):
    return make_user(person=PersonFactory(email="owner@example.com"))


@pytest.mark.parametrize("how", ["business_owner", "technical_owner", "owner_team"])
def test_a_system_owner_may_patch_their_own_system_but_not_another(owner, token_for, how):
    mine = SystemFactory(slug="mine")
    SystemFactory(slug="theirs")
    if how == "owner_team":
        mine.owner_team = TeamFactory(members=[owner.person])
        mine.save()
    else:
        add_contact(mine, how, person=owner.person)
    api = ApiClient(token_for(owner))
    response = api.patch("/systems/mine", {"notes": "Reviewed."})
    assert response.status_code == 200, response.content
    assert response.json()["notes"] == "Reviewed."
    assert api.patch("/systems/theirs", {"notes": "Mine now."}).status_code == 403
    # Owners change their system; creating and deleting systems stays with admins.
    assert api.delete("/systems/mine").status_code == 403
    assert api.post("/systems", {"slug": "new", "name": "New"}).status_code == 403
    assert System.objects.get(slug="theirs").notes == ""


def test_a_non_owner_gets_403_before_any_reference_is_checked(member_api):
    SystemFactory(slug="okta")
    assert member_api.patch("/systems/okta", {"owner_team": "ghosts"}).status_code == 403


def test_an_auditor_owner_still_cannot_patch(make_user, token_for):
    person = PersonFactory()
    auditor = make_user("auditor", person=person)
    system = SystemFactory(slug="okta")
    add_contact(system, ContactRole.BUSINESS_OWNER, person=person)
    api = ApiClient(token_for(auditor))
    assert api.get("/systems/okta").status_code == 200
    assert api.patch("/systems/okta", {"notes": "x"}).status_code == 403


# Query count


@pytest.mark.parametrize("rows", [5, 30])
def test_system_list_query_count_does_not_grow(member_api, django_assert_max_num_queries, sox, rows):
    team = TeamFactory(members=PersonFactory.create_batch(2))
    for _ in range(rows):
        system = SystemFactory(owner_team=team)
        system.compliance_scopes.add(sox)
        add_contact(system, ContactRole.BUSINESS_OWNER, person=PersonFactory())
        add_contact(system, ContactRole.PROVISIONER, team=team)
    # 5 for token auth and permissions; count, page, contacts with their people and teams, scopes.
    with django_assert_max_num_queries(5 + 4):
        response = member_api.get("/systems")
    results = response.json()["results"]
    assert len(results) == rows
    assert all(
        r["business_owners"] and r["provisioners"] and r["compliance_scopes"] == ["sox"] for r in results
    )
