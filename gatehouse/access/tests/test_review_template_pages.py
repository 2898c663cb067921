"""Review template pages: list, detail, add, edit (admins and compliance analysts), read-only for auditors."""

import pytest
from django.urls import reverse

from gatehouse.access.models import ReviewTemplate
from gatehouse.access.tests.factories import ReviewTemplateFactory
from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.tests.factories import SystemFactory

TEMPLATE_LIST_QUERIES = 7  # session, user, the templates, their systems (prefetched), the page: never per row


@pytest.fixture
def compliance(make_user):
    return make_user("compliance_analyst", username="compliance")


def valid(**changes):
    data = {
        "name": "Okta admins (monthly)",
        "slug": "okta-admins-monthly",
        "scope": "privileged",
        "reviewer": "system_owner",
        "cadence_months": "1",
        "due_business_days": "5",
        "undecided_rule": "revoke",
        "next_run_on": "2027-01-04",
        "is_active": "on",
        "tiers": ["1", "2"],
        "compliance_scopes": "",
        "systems": "",
        "fallback_reviewer": "",
    }
    data.update(changes)
    return data


def test_the_campaigns_page_links_to_the_templates(client_for, compliance, auditor_user, member_user):
    assert (
        b'data-testid="templates-link"' in client_for(compliance).get(reverse("access:review_list")).content
    )
    assert (
        b'data-testid="templates-link"' in client_for(auditor_user).get(reverse("access:review_list")).content
    )
    assert (
        b'data-testid="templates-link"'
        not in client_for(member_user).get(reverse("access:review_list")).content
    )


def test_list_and_detail_for_readers_and_not_for_members(client_for, auditor_user, member_user):
    okta = SystemFactory(slug="okta", name="Okta")
    template = ReviewTemplateFactory(slug="okta-all", name="Okta, all users", systems=[okta])
    auditor = client_for(auditor_user)
    body = auditor.get(reverse("access:review_templates")).content.decode()
    assert "Okta, all users" in body and "sox-all-users-quarterly" in body  # the seeded defaults too
    assert 'data-testid="template-add"' not in body
    detail = auditor.get(reverse("access:review_template", args=[template.slug])).content.decode()
    assert "Okta" in detail and 'data-testid="template-edit"' not in detail
    assert auditor.get(reverse("access:review_template", args=["nope"])).status_code == 404
    member = client_for(member_user)
    assert member.get(reverse("access:review_templates")).status_code == 403
    assert member.get(reverse("access:review_template", args=[template.slug])).status_code == 404


def test_auditor_may_not_add_or_edit(client_for, auditor_user):
    template = ReviewTemplateFactory()
    client = client_for(auditor_user)
    assert client.get(reverse("access:review_template_add")).status_code == 403
    assert client.post(reverse("access:review_template_add"), valid()).status_code == 403
    edit = reverse("access:review_template_edit", args=[template.slug])
    assert client.post(edit, valid(slug=template.slug)).status_code == 403
    assert not ReviewTemplate.objects.filter(slug="okta-admins-monthly").exists()


def test_compliance_adds_a_template_through_the_service(client_for, compliance):
    okta = SystemFactory(slug="okta", name="Okta")
    client = client_for(compliance)
    assert client.get(reverse("access:review_template_add")).status_code == 200
    response = client.post(
        reverse("access:review_template_add"), valid(systems="okta", fallback_reviewer="compliance")
    )
    template = ReviewTemplate.objects.get(slug="okta-admins-monthly")
    assert response.status_code == 302
    assert response["Location"] == reverse("access:review_template", args=[template.slug])
    assert template.tiers == [1, 2] and template.scope == "privileged" and template.undecided_rule == "revoke"
    assert list(template.systems.all()) == [okta] and template.fallback_reviewer == compliance
    assert str(template.next_run_on) == "2027-01-04"
    event = AuditEvent.objects.get(object_type="access.reviewtemplate", object_id=str(template.pk))
    assert event.action == "create"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        (
            {"compliance_scopes": "sox, nosuchscope"},
            "compliance_scopes",
            "Unknown compliance scope: nosuchscope",
        ),
        ({"systems": "nosuchsystem"}, "systems", "No system with slug nosuchsystem"),
        ({"fallback_reviewer": "ghost"}, "fallback_reviewer", "No user &#x27;ghost&#x27;"),
        ({"cadence_months": "0"}, "cadence_months", ""),
        ({"slug": "sox-all-users-quarterly"}, "slug", "A template with this slug exists"),
        ({"name": ""}, "name", "This field is required"),
    ],
)
def test_bad_input_is_shown_inline_naming_the_field_and_nothing_is_written(
    client_for, compliance, changes, field, message
):
    before = ReviewTemplate.objects.count()
    events = AuditEvent.objects.count()
    response = client_for(compliance).post(reverse("access:review_template_add"), valid(**changes))
    assert response.status_code == 422
    body = response.content.decode()
    assert f'id="id_{field}_error"' in body
    assert message in body
    assert ReviewTemplate.objects.count() == before and AuditEvent.objects.count() == events


def test_admin_edits_a_template_and_a_service_error_is_inline(client_for, admin_user):
    sox = SystemFactory(slug="ledger", name="Ledger")
    template = ReviewTemplateFactory(slug="ledger-all", name="Ledger", systems=[sox], tiers=[3])
    client = client_for(admin_user)
    edit = reverse("access:review_template_edit", args=[template.slug])
    form = client.get(edit).content.decode()
    assert "\nledger</textarea>" in form and 'value="Ledger"' in form
    response = client.post(
        edit,
        valid(
            slug="ledger-all", name="Ledger, all users", scope="all", systems="", tiers=["3"], is_active=""
        ),
    )
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.name == "Ledger, all users" and not template.is_active and not template.systems.exists()
    events = AuditEvent.objects.filter(object_type="access.reviewtemplate", object_id=str(template.pk))
    assert events.count() == 1
    # A value the form accepts but the service refuses comes back on its field.
    response = client.post(edit, valid(slug="ledger-all", name="Ledger, all users", due_business_days="101"))
    assert response.status_code == 422 and 'id="id_due_business_days_error"' in response.content.decode()
    template.refresh_from_db()
    assert template.due_business_days == 5  # as the first edit left it


def test_template_list_query_count_is_flat(client_for, compliance, django_assert_num_queries):
    systems = [SystemFactory() for _ in range(3)]
    for n in range(3):
        ReviewTemplateFactory(systems=systems[: n + 1])
    client = client_for(compliance)
    url = reverse("access:review_templates")
    client.get(url)
    with django_assert_num_queries(TEMPLATE_LIST_QUERIES):
        client.get(url)
    for _ in range(6):
        ReviewTemplateFactory(systems=systems, fallback_reviewer=compliance, tiers=[1])
    with django_assert_num_queries(TEMPLATE_LIST_QUERIES):
        client.get(url)
