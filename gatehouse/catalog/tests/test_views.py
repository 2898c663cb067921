"""System pages, the system edit form (owners edit their own systems only) and Getting Help."""

import pytest
from django.test import Client
from django.urls import reverse

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.models import ContactRole, System
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

SYSTEM_LIST_QUERIES = 12
GETTING_HELP_QUERIES = 8


def edit_data(response) -> dict:
    data = {}
    for field in response.context["form"]:
        value = field.value()
        if value is not None:
            data[field.html_name] = value
    return data


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def okta(db):
    business = PersonFactory(name="Grace Business", email="grace@example.com")
    technical = PersonFactory(name="Sam Technical", email="sam@example.com")
    team = TeamFactory(
        name="Okta owners",
        slug="sysowners-okta",
        chat_handle="@sysowners-okta-sso",
        mention_handle="@corpsec/sys/okta",
    )
    system = SystemFactory(
        name="Okta SSO",
        slug="okta-sso",
        label="corpsys::okta-sso",
        owner_team=team,
        data_classification="red",
        tier=2,
        effective_tier=1,
        access_request_url="https://tracker.example.com/access?template=okta",
        issue_template_url="/desk/new?system=okta-sso",
        handbook_link="[Okta guide](https://handbook.example.com/okta) and [old page](/handbook/okta/)",
        description='Identity provider <script>alert("x")</script>',
        extra={"category": "identity", "sso_url": "https://example.okta.com"},
        import_problems=["tier: could not read 'Tier 1-ish'"],
    )
    add_contact(system, ContactRole.BUSINESS_OWNER, person=business)
    add_contact(system, ContactRole.TECHNICAL_OWNER, person=technical)
    return system


@pytest.fixture
def owner_user(make_user, okta):
    """The technical owner of Okta SSO, with a login."""
    return make_user("system_owner", username="sam", person=okta.contacts.get(role="technical_owner").person)


@pytest.mark.django_db
class TestSystemList:
    def test_member_sees_systems_and_filters(self, client_for, member_user, okta):
        SystemFactory(name="Zoom", data_classification="green", tier=4, effective_tier=4)
        client = client_for(member_user)
        body = client.get(reverse("catalog:system_list")).content.decode()
        assert "Okta SSO" in body and "Zoom" in body and "Grace Business" in body
        body = client.get(reverse("catalog:system_list"), {"tier": "1"}).content.decode()
        assert "Okta SSO" in body and "Zoom" not in body
        body = client.get(reverse("catalog:system_list"), {"has_import_problems": "true"}).content.decode()
        assert "Okta SSO" in body and "Zoom" not in body
        body = client.get(reverse("catalog:system_list"), {"owner_team": "sysowners-okta"}).content.decode()
        assert "Okta SSO" in body and "Zoom" not in body

    @pytest.mark.parametrize("rows", [5, 40])
    def test_query_count_does_not_grow_with_rows(
        self, rows, client_for, member_user, django_assert_max_num_queries
    ):
        for _ in range(rows):
            system = SystemFactory(owner_team=TeamFactory())
            add_contact(system, ContactRole.BUSINESS_OWNER, person=PersonFactory())
            add_contact(system, ContactRole.TECHNICAL_OWNER, team=TeamFactory())
            system.compliance_scopes.add("sox")
        client = client_for(member_user)
        with django_assert_max_num_queries(SYSTEM_LIST_QUERIES):
            assert client.get(reverse("catalog:system_list")).status_code == 200

    def test_anonymous_goes_to_sign_in(self, client):
        assert client.get(reverse("catalog:system_list")).status_code == 302


@pytest.mark.django_db
class TestSystemPage:
    def test_shows_the_system(self, client_for, member_user, okta):
        response = client_for(member_user).get(reverse("catalog:system", args=[okta.slug]))
        assert response.status_code == 200
        body = response.content.decode()
        for text in (
            "corpsys::okta-sso",
            "Grace Business",
            "Sam Technical",
            "@sysowners-okta-sso",
            "@corpsec/sys/okta",
            "Red data makes it Tier 1",
            "Tier 2 Business Critical",  # the declared tier beside the effective one
            "sso_url",
            "Import problems",
            "Tier 1-ish",
        ):
            assert text in body, text
        # Markdown links: absolute ones become links, relative handbook paths stay text, HTML stays escaped.
        assert (
            '<a href="https://handbook.example.com/okta" rel="noopener noreferrer" target="_blank">Okta guide</a>'
            in body
        )
        assert "<code>/handbook/okta/</code>" in body
        assert "<script>alert" not in body and "&lt;script&gt;" in body
        # No edit button and no audit history for a member.
        assert reverse("catalog:system_edit", args=[okta.slug]) not in body
        assert "Recent changes" not in body

    def test_auditor_sees_history_but_no_edit_button(self, client_for, auditor_user, admin_user, okta):
        from gatehouse.catalog.services import update_system

        update_system(okta, actor=admin_user, notes="Reviewed")
        body = client_for(auditor_user).get(reverse("catalog:system", args=[okta.slug])).content.decode()
        assert "Recent changes" in body and "Reviewed" in body
        assert reverse("catalog:system_edit", args=[okta.slug]) not in body

    def test_owner_sees_the_edit_button(self, owner_user, okta):
        body = signed_in(owner_user).get(reverse("catalog:system", args=[okta.slug])).content.decode()
        assert reverse("catalog:system_edit", args=[okta.slug]) in body

    def test_unknown_system_is_404(self, client_for, member_user):
        assert client_for(member_user).get(reverse("catalog:system", args=["nope"])).status_code == 404


@pytest.mark.django_db
class TestSystemEdit:
    def test_member_and_auditor_get_403(self, make_user, member_user, okta):
        url = reverse("catalog:system_edit", args=[okta.slug])
        assert signed_in(member_user).get(url).status_code == 403
        # An auditor changes nothing, even a system they would own.
        auditor = make_user("auditor", username="owning-auditor", person=okta.contacts.first().person)
        assert signed_in(auditor).get(url).status_code == 403
        assert signed_in(auditor).post(url, {"name": "Hacked"}).status_code == 403
        okta.refresh_from_db()
        assert okta.name == "Okta SSO"

    def test_owner_edits_their_system_with_an_audit_event(self, owner_user, okta):
        PersonFactory(email="new.provisioner@example.com")
        client = signed_in(owner_user)
        url = reverse("catalog:system_edit", args=[okta.slug])
        response = client.get(url)
        assert response.status_code == 200
        data = edit_data(response)
        assert data["business_owners"] == "grace@example.com"
        data.update(
            description="The identity provider.",
            tier="1",
            compliance_scopes=["sox", "soc2"],
            provisioners="new.provisioner@example.com, team:sysowners-okta",
        )
        response = client.post(url, data)
        assert response.status_code == 302 and response["Location"] == okta.get_absolute_url()
        okta.refresh_from_db()
        assert okta.description == "The identity provider." and okta.tier == 1
        assert sorted(okta.compliance_scopes.values_list("code", flat=True)) == ["soc2", "sox"]
        event = AuditEvent.objects.filter(object_type="catalog.system", object_id=str(okta.pk)).latest("id")
        assert event.source == "web" and event.actor_id == owner_user.pk and event.action == "update"
        assert event.changes["tier"] == [2, 1]
        assert event.changes["description"][1] == "The identity provider."
        assert event.changes["provisioners"] == [
            [],
            ["person:new.provisioner@example.com", "team:sysowners-okta"],
        ]
        assert event.changes["compliance_scopes"] == [[], ["soc2", "sox"]]

    def test_owner_may_not_edit_another_system(self, owner_user):
        other = SystemFactory(name="Zoom")
        assert signed_in(owner_user).get(reverse("catalog:system_edit", args=[other.slug])).status_code == 403
        assert (
            signed_in(owner_user).post(reverse("catalog:system_edit", args=[other.slug]), {}).status_code
            == 403
        )

    def test_admin_edits_any_system(self, admin_user, okta):
        client = signed_in(admin_user)
        url = reverse("catalog:system_edit", args=[okta.slug])
        data = edit_data(client.get(url))
        data["name"] = "Okta"
        assert client.post(url, data).status_code == 302
        okta.refresh_from_db()
        assert okta.name == "Okta"

    def test_unknown_contacts_and_team_are_field_errors(self, owner_user, okta):
        client = signed_in(owner_user)
        url = reverse("catalog:system_edit", args=[okta.slug])
        data = edit_data(client.get(url))
        data.update(business_owners="ghost@example.com, no-such-team", owner_team="missing-team")
        before = AuditEvent.objects.count()
        response = client.post(url, data)
        body = response.content.decode()
        assert response.status_code == 422
        assert "Unknown person or team: ghost@example.com, no-such-team." in body
        assert "No team with slug missing-team." in body
        assert AuditEvent.objects.count() == before

    def test_invalid_link_is_a_field_error(self, owner_user, okta):
        client = signed_in(owner_user)
        url = reverse("catalog:system_edit", args=[okta.slug])
        data = edit_data(client.get(url))
        data["access_request_url"] = "javascript:alert(1)"
        response = client.post(url, data)
        assert response.status_code == 422
        assert "Enter an http(s) URL or a path starting with /." in response.content.decode()

    def test_admin_adds_a_system(self, admin_user):
        response = signed_in(admin_user).post(
            reverse("catalog:system_add"),
            {
                "slug": "new-thing",
                "name": "New Thing",
                "data_classification": "red",
                "compliance_scopes": ["sox"],
            },
        )
        assert response.status_code == 302
        system = System.objects.get(slug="new-thing")
        assert system.effective_tier == 1  # Red data
        assert AuditEvent.objects.filter(object_type="catalog.system", action="create", source="web").exists()

    def test_owner_may_not_add(self, owner_user):
        assert signed_in(owner_user).get(reverse("catalog:system_add")).status_code == 403


@pytest.mark.django_db
class TestGettingHelp:
    def test_lists_links_handles_and_owners(self, client_for, member_user, okta):
        response = client_for(member_user).get(reverse("catalog:getting_help"))
        body = response.content.decode()
        assert response.status_code == 200
        for text in (
            "corpsys::okta-sso",
            "@corpsec/sys/okta",
            "@sysowners-okta-sso",
            # The desk's forms for the system, prefilled (not the links the catalog stores).
            'href="/desk/new/access-request/?system=okta-sso"',
            'href="/desk/new/configuration-change/?system=okta-sso"',
            "Grace Business",
            "Sam Technical",
        ):
            assert text in body, text
        assert "https://tracker.example.com/access?template=okta" not in body

    def test_falls_back_to_stored_links_when_the_desk_type_is_off(self, client_for, member_user, okta):
        from gatehouse.desk.models import RequestType

        RequestType.objects.filter(slug__in=["access-request", "configuration-change"]).update(
            is_active=False
        )
        body = client_for(member_user).get(reverse("catalog:getting_help")).content.decode()
        assert "https://tracker.example.com/access?template=okta" in body
        assert 'href="/desk/new?system=okta-sso"' in body
        assert "/desk/new/access-request/" not in body

    def test_rows_carry_whether_the_desk_offers_each_link(self, member_user, okta):
        from gatehouse.catalog.selectors import getting_help_rows
        from gatehouse.desk.models import RequestType

        row = getting_help_rows(member_user, "okta").get()
        assert row.desk_access is True and row.desk_issue is True
        RequestType.objects.filter(slug="configuration-change").update(is_active=False)
        row = getting_help_rows(member_user, "okta").get()
        assert row.desk_access is True and row.desk_issue is False

    def test_search_filters_rows_and_htmx_gets_the_partial(self, client_for, member_user, okta):
        SystemFactory(name="Zoom", slug="zoom")
        client = client_for(member_user)
        body = client.get(reverse("catalog:getting_help"), {"q": "okta"}).content.decode()
        assert "Okta SSO" in body and "Zoom" not in body
        assert 'name="q" value="okta"' in body  # the search works as a plain GET form too
        response = client.get(
            reverse("catalog:getting_help"), {"q": "@sysowners-okta"}, headers={"HX-Request": "true"}
        )
        body = response.content.decode()
        assert "Okta SSO" in body and "Zoom" not in body and "<html" not in body

    def test_short_address_redirects(self, client_for, member_user):
        response = client_for(member_user).get("/help/?q=okta")
        assert (
            response.status_code == 302
            and response["Location"] == reverse("catalog:getting_help") + "?q=okta"
        )

    @pytest.mark.parametrize("rows", [5, 40])
    def test_query_count_does_not_grow_with_rows(
        self, rows, client_for, member_user, django_assert_max_num_queries
    ):
        for _ in range(rows):
            system = SystemFactory(owner_team=TeamFactory())
            add_contact(system, ContactRole.BUSINESS_OWNER, person=PersonFactory())
        client = client_for(member_user)
        with django_assert_max_num_queries(GETTING_HELP_QUERIES):
            assert client.get(reverse("catalog:getting_help")).status_code == 200

    def test_anonymous_goes_to_sign_in(self, client):
        assert client.get(reverse("catalog:getting_help")).status_code == 302
