"""The people directory pages: lists, person and team pages, and edits through the services."""

import pytest
from django.urls import reverse

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.models import ContactRole
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.directory.models import Person
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

# The list pages read everything a row shows up front: the count must not grow with the rows.
PERSON_LIST_QUERIES = 8
TEAM_LIST_QUERIES = 7


def edit_data(response) -> dict:
    """The edit form's current values, as the browser would post them back."""
    data = {}
    for field in response.context["form"]:
        value = field.value()
        if value is None:
            continue
        data[field.html_name] = value
    return data


@pytest.mark.django_db
class TestPersonList:
    def test_member_sees_people_with_search(self, client_for, member_user):
        PersonFactory(name="Ada Lovelace", department="Engineering")
        PersonFactory(name="Grace Hopper", department="Finance")
        response = client_for(member_user).get(reverse("directory:person_list"), {"q": "ada"})
        assert response.status_code == 200
        body = response.content.decode()
        assert "Ada Lovelace" in body and "Grace Hopper" not in body
        assert "<html" in body  # a full page without htmx

    def test_htmx_search_returns_only_the_results(self, client_for, member_user):
        PersonFactory(name="Ada Lovelace")
        response = client_for(member_user).get(
            reverse("directory:person_list"), {"q": "lovelace"}, headers={"HX-Request": "true"}
        )
        body = response.content.decode()
        assert response.status_code == 200
        assert "Ada Lovelace" in body and "<html" not in body and "<form" not in body
        assert "HX-Request" in response["Vary"]

    def test_filters_by_status_and_team(self, client_for, member_user):
        team = TeamFactory(slug="platform")
        inside = PersonFactory(name="Inside Person")
        team.members.add(inside)
        PersonFactory(name="Outside Person")
        PersonFactory(name="Gone Person", status="terminated")
        client = client_for(member_user)
        body = client.get(reverse("directory:person_list"), {"team": "platform"}).content.decode()
        assert "Inside Person" in body and "Outside Person" not in body
        body = client.get(reverse("directory:person_list"), {"status": "terminated"}).content.decode()
        assert "Gone Person" in body and "Inside Person" not in body

    def test_sort_links_keep_the_filters(self, client_for, member_user):
        PersonFactory(name="Ada Lovelace")
        body = client_for(member_user).get(reverse("directory:person_list"), {"q": "ada"}).content.decode()
        assert 'href="?q=ada&amp;sort=email"' in body
        assert 'href="?q=ada&amp;sort=-name"' in body  # sorted by name already: the link reverses it

    def test_paginates(self, client_for, member_user):
        for i in range(30):
            PersonFactory(name=f"Paged {i:02d}")
        response = client_for(member_user).get(reverse("directory:person_list"), {"per_page": 25, "page": 2})
        body = response.content.decode()
        assert "Page 2 of 2" in body and "Paged 29" in body and "Paged 00" not in body

    @pytest.mark.parametrize("rows", [5, 40])
    def test_query_count_does_not_grow_with_rows(
        self, rows, client_for, member_user, django_assert_max_num_queries
    ):
        boss = PersonFactory(name="Boss")
        team = TeamFactory()
        for _ in range(rows):
            team.members.add(PersonFactory(manager=boss))
        client = client_for(member_user)
        with django_assert_max_num_queries(PERSON_LIST_QUERIES):
            response = client.get(reverse("directory:person_list"))
        assert response.status_code == 200

    def test_anonymous_goes_to_sign_in(self, client):
        response = client.get(reverse("directory:person_list"))
        assert response.status_code == 302 and response["Location"].startswith(reverse("users:login"))


@pytest.mark.django_db
class TestPersonPage:
    def test_shows_manager_chain_reports_teams_systems_and_login(self, client_for, member_user, make_user):
        ceo = PersonFactory(name="Chief Executive")
        vp = PersonFactory(name="Vice President", manager=ceo)
        person = PersonFactory(name="Middle Manager", manager=vp)
        PersonFactory(name="Report One", manager=person)
        PersonFactory(name="Report Two", manager=person)
        TeamFactory(name="Okta Owners", members=[person])
        system = SystemFactory(name="Okta SSO")
        add_contact(system, ContactRole.TECHNICAL_OWNER, person=person)
        make_user(username="middle.manager", person=person)

        response = client_for(member_user).get(reverse("directory:person", args=[person.pk]))
        assert response.status_code == 200
        assert [p.name for p in response.context["chain"]] == ["Chief Executive", "Vice President"]
        body = response.content.decode()
        # The chain reads from the top of the tree down to the person.
        chain = body.split('class="manager-chain"')[1].split("</nav>")[0]
        assert chain.index("Chief Executive") < chain.index("Vice President") < chain.index("Middle Manager")
        assert "Report One" in body and "Report Two" in body
        assert "Okta Owners" in body
        assert "Okta SSO" in body and "Technical owner" in body
        assert "middle.manager" in body
        assert reverse("directory:person_edit", args=[person.pk]) not in body  # a member may not edit

    def test_unknown_person_is_404(self, client_for, member_user):
        assert client_for(member_user).get(reverse("directory:person", args=[999999])).status_code == 404

    def test_anonymous_goes_to_sign_in(self, client):
        person = PersonFactory()
        assert client.get(reverse("directory:person", args=[person.pk])).status_code == 302


@pytest.mark.django_db
class TestPersonEdit:
    def test_member_and_auditor_may_not_edit(self, client_for, member_user, auditor_user, client):
        person = PersonFactory()
        url = reverse("directory:person_edit", args=[person.pk])
        assert client_for(member_user).get(url).status_code == 403
        client.logout()
        client.force_login(auditor_user)
        assert client.get(url).status_code == 403
        assert client.post(url, {"name": "Changed", "email": person.email}).status_code == 403
        person.refresh_from_db()
        assert person.name != "Changed"

    def test_admin_edits_through_the_service_with_an_audit_event(self, client_for, admin_user):
        manager = PersonFactory(email="boss@example.com")
        person = PersonFactory(name="Old Name", title="Engineer")
        client = client_for(admin_user)
        url = reverse("directory:person_edit", args=[person.pk])
        data = edit_data(client.get(url))
        data.update(name="New Name", manager="boss@example.com")
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"] == person.get_absolute_url()
        person.refresh_from_db()
        assert person.name == "New Name" and person.manager == manager
        event = AuditEvent.objects.filter(object_type="directory.person", object_id=str(person.pk)).latest(
            "id"
        )
        assert event.source == "web" and event.actor_id == admin_user.pk
        assert event.changes["name"] == ["Old Name", "New Name"]
        assert event.changes["manager_id"] == [None, manager.pk]

    def test_saving_unchanged_writes_no_event(self, client_for, admin_user):
        person = PersonFactory()
        client = client_for(admin_user)
        url = reverse("directory:person_edit", args=[person.pk])
        before = AuditEvent.objects.count()
        assert client.post(url, edit_data(client.get(url))).status_code == 302
        assert AuditEvent.objects.count() == before

    def test_service_errors_show_inline_with_422(self, client_for, admin_user):
        person = PersonFactory(email="top@example.com")
        report = PersonFactory(email="report@example.com", manager=person)
        client = client_for(admin_user)
        url = reverse("directory:person_edit", args=[person.pk])
        data = edit_data(client.get(url))
        data["manager"] = report.email  # would make a reporting cycle
        response = client.post(url, data)
        assert response.status_code == 422
        assert "reporting cycle" in response.content.decode()

    def test_unknown_manager_is_a_field_error(self, client_for, admin_user):
        person = PersonFactory()
        client = client_for(admin_user)
        url = reverse("directory:person_edit", args=[person.pk])
        data = edit_data(client.get(url))
        data["manager"] = "nobody@example.com"
        response = client.post(url, data)
        assert response.status_code == 422
        assert "No person with email nobody@example.com." in response.content.decode()

    def test_admin_adds_a_person(self, client_for, admin_user):
        response = client_for(admin_user).post(
            reverse("directory:person_add"),
            {"name": "New Joiner", "email": "New.Joiner@Example.com", "employment_type": "employee"},
        )
        person = Person.objects.get(email="new.joiner@example.com")
        assert response.status_code == 302 and response["Location"] == person.get_absolute_url()
        assert AuditEvent.objects.filter(
            object_type="directory.person", action="create", source="web"
        ).exists()

    def test_member_may_not_add(self, client_for, member_user):
        assert client_for(member_user).get(reverse("directory:person_add")).status_code == 403


@pytest.mark.django_db
class TestTeams:
    def test_list_and_page(self, client_for, member_user):
        member = PersonFactory(name="Team Member")
        team = TeamFactory(name="Okta owners", chat_handle="@sysowners-okta", members=[member])
        SystemFactory(name="Okta SSO", owner_team=team)
        client = client_for(member_user)
        body = client.get(reverse("directory:team_list")).content.decode()
        assert "Okta owners" in body and "@sysowners-okta" in body
        response = client.get(reverse("directory:team", args=[team.slug]))
        body = response.content.decode()
        assert response.status_code == 200
        assert "Team Member" in body and "Okta SSO" in body
        assert reverse("directory:team_edit", args=[team.slug]) not in body

    @pytest.mark.parametrize("rows", [5, 40])
    def test_list_query_count(self, rows, client_for, member_user, django_assert_max_num_queries):
        people = [PersonFactory() for _ in range(3)]
        for _ in range(rows):
            SystemFactory(owner_team=TeamFactory(members=people))
        client = client_for(member_user)
        with django_assert_max_num_queries(TEAM_LIST_QUERIES):
            assert client.get(reverse("directory:team_list")).status_code == 200

    def test_edit_permissions_and_save(self, client_for, member_user, admin_user, client):
        team = TeamFactory(name="Helpdesk", slug="helpdesk")
        person = PersonFactory(email="new.member@example.com")
        url = reverse("directory:team_edit", args=[team.slug])
        assert client_for(member_user).get(url).status_code == 403
        client.logout()
        client.force_login(admin_user)
        data = edit_data(client.get(url))
        data.update(chat_handle="@helpdesk", members="new.member@example.com")
        response = client.post(url, data)
        assert response.status_code == 302
        team.refresh_from_db()
        assert team.chat_handle == "@helpdesk" and list(team.members.all()) == [person]
        event = AuditEvent.objects.filter(object_type="directory.team").latest("id")
        assert event.source == "web" and event.changes["members"] == [[], [person.pk]]

    def test_unknown_member_is_a_field_error(self, client_for, admin_user):
        team = TeamFactory()
        client = client_for(admin_user)
        url = reverse("directory:team_edit", args=[team.slug])
        data = edit_data(client.get(url))
        data["members"] = "ghost@example.com"
        response = client.post(url, data)
        assert response.status_code == 422 and "ghost@example.com" in response.content.decode()
