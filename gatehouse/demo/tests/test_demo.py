import copy
import csv
import datetime
import hashlib
import json
import zoneinfo
from dataclasses import asdict

import pytest
from django.contrib.auth import authenticate
from django.utils import timezone

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.models import ContactRole, System, Tier
from gatehouse.core.permissions import SYSTEM
from gatehouse.demo.services import DemoError, build_plan, load_demo, plan_people, read_data
from gatehouse.directory.models import EmploymentType, Person, PersonStatus, Team, status_from_dates
from gatehouse.directory.services import update_person
from gatehouse.users.models import User

DOMAIN = "@gatehouse-demo.example"
PASSWORD = read_data("users.yml")["password"]


def digest() -> str:
    """A canonical hash of people, teams, systems and their contacts, by natural keys (no ids)."""
    emails = dict(Person.objects.values_list("pk", "email"))
    people = [
        {**p.audit_snapshot(), "manager_id": emails.get(p.manager_id)}
        for p in Person.objects.order_by("email")
    ]
    teams = [
        {**t.audit_snapshot(), "members": sorted(m.email for m in t.members.all())}
        for t in Team.objects.order_by("slug").prefetch_related("members")
    ]
    systems = [
        {
            **s.audit_snapshot(),
            "owner_team_id": s.owner_team.slug,
            "scopes": sorted(c.code for c in s.compliance_scopes.all()),
            "contacts": [(c.role, c.position, c.key) for c in s.contacts.order_by("role", "position")],
        }
        for s in System.objects.order_by("slug").select_related("owner_team")
    ]
    text = json.dumps([people, teams, systems], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def test_the_plan_is_the_same_every_time_and_pins_known_people():
    first, second = build_plan(), build_plan()
    assert [asdict(p) for p in first.people] == [asdict(p) for p in second.people]
    assert [asdict(s) for s in first.systems] == [asdict(s) for s in second.systems]
    people = first.people_by_key
    ceo = people["ceo"]
    assert (ceo.email, ceo.hris_id, ceo.manager_key, ceo.time_zone) == (
        "helena.marsh@gatehouse-demo.example",
        "E1001",
        None,
        "America/Los_Angeles",
    )
    # The first generated person: catches accidental changes to the generator or its seed.
    generated = next(p for p in first.people if not p.named)
    assert (generated.name, generated.handle, generated.title, generated.time_zone, generated.start_date) == (
        PINNED_FIRST_GENERATED
    )
    leavers = sorted((p.email, p.end_date) for p in first.people if p.end_date)  # by email
    assert leavers[0] == PINNED_FIRST_LEAVER


PINNED_FIRST_GENERATED = (
    "Ayesha Dahl",
    "adahl",
    "Chief of Staff",
    "Europe/London",
    datetime.date(2024, 10, 21),
)
PINNED_FIRST_LEAVER = ("ana.park@gatehouse-demo.example", datetime.date(2027, 1, 28))


def test_load_builds_a_company_in_one_manager_tree(demo):
    people = list(Person.objects.all())
    assert 190 <= len(people) <= 210
    # Other modules add their own totals (desk guides: desk/tests/test_guides.py).
    assert demo.totals.items() >= {"people": len(people), "teams": 25, "systems": 20, "users": 10}.items()
    by_id = {p.pk: p for p in people}
    roots = [p for p in people if p.manager_id is None]
    assert [p.title for p in roots] == ["Chief Executive Officer"]
    for person in people:
        seen = set()
        current = person
        while current.manager_id is not None:
            assert current.manager_id in by_id, f"{person} has a manager who does not exist"
            assert current.pk not in seen, f"{person} is in a reporting cycle"
            seen.add(current.pk)
            current = by_id[current.manager_id]
        assert current == roots[0]
    assert len({p.hris_id for p in people}) == len(people)
    assert len({p.handle for p in people}) == len(people)
    assert all(p.email.endswith(DOMAIN) for p in people)
    for person in people:
        zoneinfo.ZoneInfo(person.time_zone)  # a real IANA zone
        assert person.start_date and person.department and person.division and person.title
        assert person.status == status_from_dates(person.end_date)
        if person.end_date:
            assert person.start_date < person.end_date
    types = {t: sum(p.employment_type == t for p in people) for t in EmploymentType.values}
    assert types[EmploymentType.CONTRACTOR] >= 3 and types[EmploymentType.TEMPORARY] >= 2
    assert {
        "Engineering",
        "Security",
        "IT",
        "Finance",
        "People",
        "Sales",
        "Marketing",
        "Legal",
        "Product",
    } <= {p.department for p in people}
    reference = read_data("company.yml")["reference_date"]
    terminated = [p for p in people if p.end_date and p.end_date < reference]
    assert len(terminated) == 6 and all(p.status == PersonStatus.TERMINATED for p in terminated)
    assert sum(p.end_date is not None and p.end_date > reference for p in people) >= 5


def test_systems_match_the_corporate_systems_list(demo, shared_data):
    with open(shared_data / "corporate_systems.csv", newline="", encoding="utf-8") as f:
        rows = {row["slug"]: row for row in csv.DictReader(f)}
    systems = {s.slug: s for s in System.objects.select_related("owner_team")}
    assert set(systems) == set(rows)
    for slug, row in rows.items():
        system = systems[slug]
        assert system.name == row["name"]
        assert system.label == row["label"]
        assert system.get_tier_display() == row["critical_tier"]
        assert system.get_data_classification_display() == row["data_classification"]
        assert system.extra["category"] == row["category"]
        assert system.owner_team.chat_handle == row["chat_team"]
        assert system.owner_team.mention_handle == row["mention_handle"]
        assert system.owner_team.name == f"{row['name']} owners"


def test_every_system_has_owners_and_critical_ones_two_provisioners_each(demo):
    for system in System.objects.prefetch_related("contacts", "compliance_scopes"):
        roles = [c.role for c in system.contacts.all()]
        assert roles.count(ContactRole.BUSINESS_OWNER) == 1, system.slug
        assert roles.count(ContactRole.TECHNICAL_OWNER) == 1, system.slug
        assert roles.count(ContactRole.PROVISIONER) >= 1 and roles.count(ContactRole.DEPROVISIONER) >= 1
        if Tier.MISSION_CRITICAL in (system.tier, system.effective_tier):
            assert roles.count(ContactRole.PROVISIONER) >= 2, system.slug
            assert roles.count(ContactRole.DEPROVISIONER) >= 2, system.slug
    assert System.objects.filter(compliance_scopes__code="sox").count() >= 3
    for slug in ("it-helpdesk", "it-engineering", "security-operations", "security-compliance", "risk"):
        assert Team.objects.get(slug=slug).members.count() >= 3


def test_a_second_load_changes_nothing(demo):
    before, events = digest(), AuditEvent.objects.count()
    again = load_demo(actor=SYSTEM)
    assert digest() == before
    assert AuditEvent.objects.count() == events
    assert again.audit_events == 0
    assert set(again.created.values()) == {0}


def test_a_reload_restores_changed_demo_data(demo):
    before = digest()
    person = Person.objects.get(email=f"helena.marsh{DOMAIN}")
    update_person(person, actor=SYSTEM, title="Chief Everything Officer")
    events = AuditEvent.objects.count()
    summary = load_demo(actor=SYSTEM)
    assert summary.audit_events == 1
    assert AuditEvent.objects.count() == events + 1
    assert digest() == before


def test_demo_users_sign_in_with_the_demo_password_and_hold_their_roles(demo):
    for spec in read_data("users.yml")["users"]:
        user = authenticate(username=spec["username"], password=PASSWORD)
        assert user is not None, spec["username"]
        assert user.role_names() == set(spec["roles"])
        assert user.person is not None and user.person.email.endswith(DOMAIN)
    auditor = User.objects.get(username="auditor")
    ahead = auditor.access_expires_at - timezone.now()
    assert datetime.timedelta(days=150) < ahead <= datetime.timedelta(days=180)
    assert auditor.has_perm("catalog.view_system")
    assert not auditor.has_perm("catalog.change_system", System.objects.get(slug="okta-sso"))
    manager = User.objects.get(username="manager")
    assert manager.person.reports.count() >= 5


def test_the_system_owner_may_change_their_systems_only(demo):
    owner = User.objects.get(username="owner")
    okta = System.objects.get(slug="okta-sso")
    assert owner.has_perm("catalog.change_system", okta)
    assert owner.has_perm("catalog.change_system", System.objects.get(slug="okta-flow"))
    assert not owner.has_perm("catalog.change_system", System.objects.get(slug="aws"))
    assert not owner.has_perm("catalog.change_system")
    member = User.objects.get(username="member")
    assert not member.has_perm("catalog.change_system", okta)


def test_bad_demo_data_is_reported_by_file_and_entry():
    company = copy.deepcopy(read_data("company.yml"))
    company["people"][1]["manager"] = "nobody"
    with pytest.raises(DemoError, match=r"company\.yml: people\[1\] \(eng-head\): unknown manager 'nobody'"):
        plan_people(company)
