import datetime

import pytest

from gatehouse.audit.models import AuditEvent
from gatehouse.core.api.testing import ApiClient
from gatehouse.directory.models import Person, PersonStatus, Team
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_api(admin_user, token_for):
    return ApiClient(token_for(admin_user))


@pytest.fixture
def member_api(member_user, token_for):
    return ApiClient(token_for(member_user))


# People


def test_list_people_paginates_with_next_and_previous(member_api):
    PersonFactory.create_batch(7)
    page = member_api.get("/people", limit=3, offset=3).json()
    assert page["count"] == 7
    assert len(page["results"]) == 3
    assert "limit=3" in page["next"] and "offset=6" in page["next"]
    assert "offset=0" in page["previous"]
    last = member_api.get("/people", limit=3, offset=6).json()
    assert last["next"] is None and len(last["results"]) == 1


def test_list_people_filters_and_searches(member_api):
    boss = PersonFactory(name="Grace Boss", department="Security")
    PersonFactory(name="Ada Report", manager=boss, department="Security", status=PersonStatus.LEAVING)
    PersonFactory(name="Linus Other", department="Sales", employment_type="contractor")
    team = TeamFactory(slug="red-team", members=[boss])

    def names(**params):
        return sorted(p["name"] for p in member_api.get("/people", **params).json()["results"])

    assert names(q="ada") == ["Ada Report"]
    assert names(department="security") == ["Ada Report", "Grace Boss"]
    assert names(status=["leaving"]) == ["Ada Report"]
    assert names(employment_type="contractor") == ["Linus Other"]
    assert names(manager=boss.pk) == ["Ada Report"]
    assert names(team=team.slug) == ["Grace Boss"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"status": "bogus"}, "status"),
        ({"manager": "abc"}, "manager"),
        ({"start_date_after": "yesterday"}, "start_date_after"),
    ],
)
def test_bad_filter_is_a_422_naming_the_parameter(member_api, params, field):
    response = member_api.get("/people", **params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", field]


def test_person_detail_has_labels_and_manager_brief(member_api):
    boss = PersonFactory(name="Grace Boss")
    person = PersonFactory(manager=boss, employment_type="temporary")
    data = member_api.get(f"/people/{person.pk}").json()
    assert data["manager"] == {"id": boss.pk, "email": boss.email, "name": "Grace Boss"}
    assert data["employment_type"] == "temporary"
    assert data["employment_type_label"] == "Temporary service provider"
    assert data["status_label"] == "Active"
    assert member_api.get("/people/999999").status_code == 404


def test_admin_creates_a_person_with_a_manager_by_email(admin_api):
    boss = PersonFactory(email="boss@example.com")
    response = admin_api.post(
        "/people",
        {
            "email": " New@Example.com ",
            "name": "New Person",
            "manager_email": "BOSS@example.com",
            "end_date": "2000-01-01",
        },
    )
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["email"] == "new@example.com"
    assert data["manager"]["id"] == boss.pk
    assert data["status"] == "terminated"  # derived from the end date in the past
    event = AuditEvent.objects.get(object_type="directory.person", object_id=str(data["id"]))
    assert event.source == "api" and event.action == "create"


def test_unknown_manager_is_a_422_naming_manager_email_and_writes_nothing(admin_api):
    response = admin_api.post(
        "/people", {"email": "x@example.com", "name": "X", "manager_email": "ghost@example.com"}
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "loc": ["body", "manager_email"],
            "msg": "No person with email ghost@example.com.",
            "type": "value_error",
        }
    ]
    assert not Person.objects.filter(email="x@example.com").exists()


def test_duplicate_email_is_a_422_on_email(admin_api):
    PersonFactory(email="taken@example.com")
    response = admin_api.post("/people", {"email": "taken@example.com", "name": "Again"})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "email"]


def test_patch_changes_only_what_was_sent_and_audits_field_changes(admin_api, admin_user):
    boss = PersonFactory()
    person = PersonFactory(title="Engineer", department="Engineering", manager=boss)
    response = admin_api.patch(f"/people/{person.pk}", {"title": "Staff Engineer"})
    assert response.status_code == 200, response.content
    person.refresh_from_db()
    assert person.title == "Staff Engineer"
    assert person.department == "Engineering" and person.manager == boss
    event = AuditEvent.objects.get(object_type="directory.person", action="update")
    assert event.changes == {"title": ["Engineer", "Staff Engineer"]}
    assert event.actor_id == admin_user.pk and event.source == "api"


def test_patch_null_removes_the_manager_and_a_cycle_is_refused(admin_api):
    top = PersonFactory()
    middle = PersonFactory(manager=top)
    assert admin_api.patch(f"/people/{top.pk}", {"manager_email": middle.email}).json()["detail"] == [
        {
            "loc": ["body", "manager_email"],
            "msg": "This manager would make a reporting cycle.",
            "type": "value_error",
        }
    ]
    assert admin_api.patch(f"/people/{middle.pk}", {"manager_email": None}).json()["manager"] is None


def test_patch_null_on_a_required_field_is_a_422(admin_api):
    person = PersonFactory()
    response = admin_api.patch(f"/people/{person.pk}", {"name": None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "name"]


def test_noop_patch_writes_no_audit_event(admin_api):
    person = PersonFactory(title="Engineer")
    before = AuditEvent.objects.count()
    assert admin_api.patch(f"/people/{person.pk}", {"title": "Engineer"}).status_code == 200
    assert AuditEvent.objects.count() == before


def test_delete_person(admin_api):
    person = PersonFactory()
    assert admin_api.delete(f"/people/{person.pk}").status_code == 204
    assert not Person.objects.filter(pk=person.pk).exists()
    assert AuditEvent.objects.filter(object_type="directory.person", action="delete").count() == 1


def test_member_reads_but_cannot_write_people(member_api):
    person = PersonFactory()
    assert member_api.get(f"/people/{person.pk}").status_code == 200
    assert member_api.post("/people", {"email": "m@example.com", "name": "M"}).status_code == 403
    assert member_api.patch(f"/people/{person.pk}", {"title": "Boss"}).status_code == 403
    assert member_api.delete(f"/people/{person.pk}").status_code == 403
    assert Person.objects.count() == 1 and Person.objects.get().title == "Engineer"


# Teams


def test_team_list_and_detail(member_api):
    people = PersonFactory.create_batch(3)
    team = TeamFactory(name="Identity", slug="identity", members=people)
    listed = member_api.get("/teams").json()["results"]
    assert listed[0]["slug"] == "identity" and listed[0]["member_count"] == 3
    assert "members" not in listed[0]
    detail = member_api.get(f"/teams/{team.slug}").json()
    assert sorted(m["email"] for m in detail["members"]) == sorted(p.email for p in people)
    assert member_api.get("/teams", member=people[0].pk).json()["count"] == 1
    assert member_api.get("/teams/nope").status_code == 404


def test_admin_creates_and_changes_a_team_with_members_by_email(admin_api):
    alice, bob = PersonFactory(email="alice@example.com"), PersonFactory(email="bob@example.com")
    response = admin_api.post("/teams", {"name": "Okta SSO owners", "members": ["alice@example.com"]})
    assert response.status_code == 201, response.content
    assert response.json()["slug"] == "okta-sso-owners"
    team = Team.objects.get(slug="okta-sso-owners")
    assert list(team.members.all()) == [alice]

    response = admin_api.patch(f"/teams/{team.slug}", {"members": ["alice@example.com", "bob@example.com"]})
    assert response.status_code == 200
    assert response.json()["member_count"] == 2
    assert set(team.members.all()) == {alice, bob}
    event = AuditEvent.objects.filter(object_type="directory.team", action="update").get()
    assert event.changes == {"members": [[alice.pk], sorted([alice.pk, bob.pk])]}


def test_team_unknown_member_is_a_422_naming_members(admin_api):
    response = admin_api.post("/teams", {"name": "Ghosts", "members": ["ghost@example.com"]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "members"]
    assert not Team.objects.exists()


def test_member_cannot_write_teams(member_api):
    team = TeamFactory()
    assert member_api.post("/teams", {"name": "X"}).status_code == 403
    assert member_api.patch(f"/teams/{team.slug}", {"name": "Renamed"}).status_code == 403
    assert member_api.delete(f"/teams/{team.slug}").status_code == 403


def test_delete_team(admin_api):
    team = TeamFactory()
    assert admin_api.delete(f"/teams/{team.slug}").status_code == 204
    assert not Team.objects.exists()


# Query counts: a page costs the same whatever the number of rows behind it. Token auth and the permission
# cache take 5 queries (token, last use, roles, user and group permissions); the page takes a count and a select.
PAGE_QUERIES = 5 + 2


def _people(n: int) -> None:
    boss = PersonFactory()
    for person in PersonFactory.create_batch(n):
        person.manager = boss
        person.save()


@pytest.mark.parametrize("rows", [5, 30])
def test_people_list_query_count_does_not_grow(member_api, django_assert_max_num_queries, rows):
    _people(rows)
    with django_assert_max_num_queries(PAGE_QUERIES):
        response = member_api.get("/people")
    assert response.json()["count"] == rows + 1


@pytest.mark.parametrize("rows", [5, 30])
def test_team_list_query_count_does_not_grow(member_api, django_assert_max_num_queries, rows):
    for _ in range(rows):
        TeamFactory(members=PersonFactory.create_batch(2))
    with django_assert_max_num_queries(PAGE_QUERIES):
        response = member_api.get("/teams")
    assert response.json()["count"] == rows


def test_dates_round_trip(admin_api):
    person = PersonFactory()
    data = admin_api.patch(f"/people/{person.pk}", {"start_date": "2024-02-29"}).json()
    assert data["start_date"] == "2024-02-29"
    person.refresh_from_db()
    assert person.start_date == datetime.date(2024, 2, 29)
    assert admin_api.patch(f"/people/{person.pk}", {"start_date": "2023-02-29"}).status_code == 422
