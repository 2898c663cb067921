import pytest
from django.core.exceptions import ValidationError

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog import services as catalog
from gatehouse.catalog.models import ContactRole, System
from gatehouse.core import context
from gatehouse.core.models import json_safe
from gatehouse.core.permissions import SYSTEM
from gatehouse.core.services import diff
from gatehouse.directory import services as directory
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

pytestmark = pytest.mark.django_db


def test_diff_lists_only_changed_fields_with_before_and_after():
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": None}) == {"b": [2, 3]}
    assert diff({"a": None}, {"a": "x"}) == {"a": [None, "x"]}


def test_json_safe_is_stable_for_dates_sets_and_decimals():
    import datetime
    import decimal

    assert json_safe(datetime.date(2026, 1, 2)) == "2026-01-02"
    assert json_safe({3, 1, 2}) == [1, 2, 3]
    assert json_safe(decimal.Decimal("1.50")) == "1.50"


def test_unknown_fields_are_rejected_by_name():
    person = PersonFactory()
    with pytest.raises(ValidationError) as exc:
        directory.update_person(person, actor=SYSTEM, favourite_colour="blue")
    assert "favourite_colour" in exc.value.message_dict


def test_validation_errors_write_nothing():
    PersonFactory(email="taken@example.com")
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as exc:
        directory.create_person(actor=SYSTEM, email="TAKEN@example.com", name="Copy")
    assert "email" in exc.value.message_dict
    assert AuditEvent.objects.count() == before


def test_a_manager_cycle_is_refused():
    top = PersonFactory()
    middle = PersonFactory(manager=top)
    bottom = PersonFactory(manager=middle)
    with pytest.raises(ValidationError, match="cycle"):
        directory.update_person(top, actor=SYSTEM, manager=bottom)
    with pytest.raises(ValidationError, match="cycle"):
        directory.update_person(top, actor=SYSTEM, manager=top)


def test_team_membership_changes_are_audited_as_member_ids():
    a, b = PersonFactory(), PersonFactory()
    team = directory.create_team(actor=SYSTEM, name="IT Helpdesk", members=[a])
    directory.update_team(team, actor=SYSTEM, members=[a, b])
    event = AuditEvent.objects.filter(object_type="directory.team").order_by("id").last()
    assert event.changes == {"members": [[a.pk], sorted([a.pk, b.pk])]}
    before = AuditEvent.objects.count()
    directory.update_team(team, actor=SYSTEM, members=[b, a])
    assert AuditEvent.objects.count() == before


def test_system_contacts_and_scopes_are_audited_with_the_system():
    owner, other = PersonFactory(email="owner@example.com"), PersonFactory(email="other@example.com")
    team = TeamFactory(slug="it-ops")
    system = catalog.create_system(
        actor=SYSTEM,
        slug="okta-sso",
        name="Okta SSO",
        contacts={ContactRole.BUSINESS_OWNER: [owner], ContactRole.PROVISIONER: [team, other]},
        compliance_scopes=["sox"],
    )
    created = AuditEvent.objects.get(object_type="catalog.system", action="create")
    assert created.changes["business_owners"] == [[], ["person:owner@example.com"]]
    assert created.changes["provisioners"] == [[], ["team:it-ops", "person:other@example.com"]]
    assert created.changes["compliance_scopes"] == [None, ["sox"]]
    catalog.update_system(system, actor=SYSTEM, contacts={ContactRole.BUSINESS_OWNER: [other]})
    updated = AuditEvent.objects.filter(object_type="catalog.system").order_by("id").last()
    assert updated.changes == {
        "business_owners": [["person:owner@example.com"], ["person:other@example.com"]]
    }


@pytest.mark.parametrize(
    ("fields", "scopes", "tier"),
    [
        ({"tier": 3, "data_classification": "red"}, [], 1),
        ({"tier": 4, "is_subprocessor": True}, [], 1),
        ({"tier": 3}, ["sox"], 2),
        ({"tier": 1}, ["sox"], 1),
        ({"tier": 3, "data_classification": "orange"}, [], 3),
        ({}, [], None),
    ],
)
def test_tier_defaults_raise_the_effective_tier(fields, scopes, tier):
    system = catalog.create_system(actor=SYSTEM, slug="s", name="S", compliance_scopes=scopes, **fields)
    assert System.objects.get(pk=system.pk).effective_tier == tier


def test_changing_scope_recomputes_the_effective_tier():
    system = catalog.create_system(actor=SYSTEM, slug="s", name="S", tier=3)
    catalog.update_system(system, actor=SYSTEM, compliance_scopes=["sox"])
    assert System.objects.get(pk=system.pk).effective_tier == 2


def test_unknown_compliance_scope_is_named():
    with pytest.raises(ValidationError) as exc:
        catalog.create_system(actor=SYSTEM, slug="s", name="S", compliance_scopes=["nope"])
    assert "compliance_scopes" in exc.value.message_dict


def test_the_change_context_restores_after_a_block():
    with context.change_context(source="job", request_id="r"):
        assert context.current().source == "job"
    assert context.current().request_id == ""
