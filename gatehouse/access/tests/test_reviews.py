"""Access review campaigns (part D): snapshot, reviewers, decisions, reassignment, closing, jobs, pages, API."""

from __future__ import annotations

import datetime
import hashlib
import json
from types import SimpleNamespace

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.urls import reverse

from gatehouse.access import reviews
from gatehouse.access.models import FulfilmentTask, ReviewCampaign, ReviewTemplate
from gatehouse.access.review_defaults import DEFAULT_TEMPLATES
from gatehouse.access.tests.factories import EntitlementFactory, GrantFactory, ReviewTemplateFactory
from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.models import ComplianceScope, ContactRole
from gatehouse.catalog.tests.factories import SystemFactory, add_contact
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.tests.factories import PersonFactory, TeamFactory

UTC = datetime.UTC
# A Wednesday; the default calendar is 24x5 UTC.
NOW = datetime.datetime(2026, 12, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(db, make_user):
    owner_p = PersonFactory(email="owner@example.com", name="Olga Owner")
    owner = make_user("system_owner", username="owner", person=owner_p)
    owner2_p = PersonFactory(email="owner2@example.com", name="Otto Owner")
    owner2 = make_user("system_owner", username="owner2", person=owner2_p)
    boss_p = PersonFactory(email="boss@example.com", name="Bea Boss")
    boss = make_user("manager", username="boss", person=boss_p)
    fallback_p = PersonFactory(email="fallback@example.com", name="Fay Fallback")
    fallback = make_user("compliance_analyst", username="fallback", person=fallback_p)
    compliance = make_user("compliance_analyst", username="compliance")
    auditor = make_user("auditor", username="auditor")
    admin = make_user("admin", username="admin", person=PersonFactory(email="admin@example.com"))
    alice = PersonFactory(email="alice@example.com", name="Alice", manager=boss_p)
    bob = PersonFactory(email="bob@example.com", name="Bob", manager=boss_p)
    gone = PersonFactory(email="gone@example.com", name="Gone", status="terminated", manager=boss_p)
    crm = SystemFactory(slug="crm", name="CRM", tier=1, effective_tier=1)
    crm.compliance_scopes.add(ComplianceScope.objects.get(code="sox"))
    add_contact(crm, ContactRole.BUSINESS_OWNER, person=owner_p)
    wiki = SystemFactory(slug="wiki", name="Wiki", tier=3, effective_tier=3)
    wiki.owner_team = TeamFactory(slug="wiki-team", members=[owner2_p])
    wiki.save()
    crm_user = EntitlementFactory(system=crm, slug="user", name="CRM user", owner=owner2_p)
    crm_admin = EntitlementFactory(system=crm, slug="admin", name="CRM admin", privilege="admin")
    wiki_edit = EntitlementFactory(system=wiki, slug="edit", name="Wiki editor")
    granted = datetime.datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    grants = SimpleNamespace(
        alice_crm=GrantFactory(person=alice, entitlement=crm_user, started_at=granted),
        alice_admin=GrantFactory(person=alice, entitlement=crm_admin, started_at=granted),
        bob_wiki=GrantFactory(person=bob, entitlement=wiki_edit, started_at=granted),
        gone_crm=GrantFactory(person=gone, entitlement=crm_user, started_at=granted),
        owner_crm=GrantFactory(person=owner_p, entitlement=crm_user, started_at=granted),
    )
    ended = GrantFactory(person=bob, entitlement=crm_user, started_at=granted)
    ended.ended_at = NOW - datetime.timedelta(days=3)
    ended.save()
    template = ReviewTemplateFactory(slug="all", name="Everything", fallback_reviewer=fallback)
    return SimpleNamespace(**locals())


def start(world, template=None, **kwargs):
    return reviews.start_campaign(template or world.template, actor=SYSTEM, now=NOW, **kwargs)


# --- start_campaign ---------------------------------------------------------------------------------------------


def test_snapshot_covers_live_grants_with_frozen_columns_and_hash(world):
    campaign = start(world)
    items = list(campaign.items.order_by("grant_id"))
    assert [i.grant_id for i in items] == sorted(
        g.pk for g in vars(world.grants).values()
    )  # the ended grant is not in it
    alice = campaign.items.get(grant=world.grants.alice_crm)
    assert (alice.person_email, alice.person_name, alice.manager_email) == (
        "alice@example.com",
        "Alice",
        "boss@example.com",
    )
    assert (alice.entitlement_name, alice.privilege, alice.system_id) == (
        "CRM user",
        "standard",
        world.crm.pk,
    )
    assert campaign.snapshot_rows == 5
    lines = b"".join(
        json.dumps(reviews.canonical_values(i), ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
        for i in items
    )
    assert campaign.snapshot_sha256 == hashlib.sha256(lines).hexdigest()
    assert reviews.canonical_values(alice)[8] == "2026-01-05T08:00:00.000000Z"
    assert campaign.snapshot_taken_at == NOW and "live grants" in campaign.snapshot_source
    assert campaign.definition["template"] == "all"


def test_campaign_creation_is_one_audit_event_with_the_snapshot(world):
    before = AuditEvent.objects.count()
    campaign = start(world)
    events = list(AuditEvent.objects.order_by("id")[before:])
    assert len(events) == 1
    event = events[0]
    assert event.object_type.endswith("reviewcampaign") and event.object_id == str(campaign.pk)
    assert event.changes["snapshot_sha256"] == [None, campaign.snapshot_sha256]
    assert event.changes["snapshot_rows"] == [None, 5]
    assert event.changes["snapshot_source"][1] == campaign.snapshot_source


def test_due_in_business_days_skips_the_weekend(world):
    campaign = start(world)
    # Wednesday 2 Dec + 10 business days (24x5): the close of Wednesday 16 Dec.
    assert campaign.due_at == datetime.datetime(2026, 12, 17, 0, 0, tzinfo=UTC)
    world.template.due_business_days = 3
    world.template.save()
    friday = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
    campaign = reviews.start_campaign(world.template, actor=SYSTEM, now=friday)
    assert campaign.due_at == datetime.datetime(2026, 12, 10, 0, 0, tzinfo=UTC)  # close of Wednesday


def test_system_owner_reviews_and_nobody_reviews_their_own_access(world):
    campaign = start(world)
    by_grant = dict(campaign.items.values_list("grant_id", "reviewer_id"))
    assert by_grant[world.grants.alice_crm.pk] == world.owner.pk
    assert by_grant[world.grants.bob_wiki.pk] == world.owner2.pk  # the wiki's owner team
    assert by_grant[world.grants.owner_crm.pk] == world.fallback.pk  # the owner's own grant


def test_no_fallback_leaves_own_access_unassigned(world):
    world.template.fallback_reviewer = None
    world.template.save()
    campaign = start(world)
    assert campaign.items.get(grant=world.grants.owner_crm).reviewer_id is None


def test_manager_and_entitlement_owner_rules(world):
    world.template.reviewer = "manager"
    world.template.save()
    campaign = start(world)
    reviewers = dict(campaign.items.values_list("grant_id", "reviewer_id"))
    assert reviewers[world.grants.alice_crm.pk] == world.boss.pk
    assert reviewers[world.grants.owner_crm.pk] == world.fallback.pk  # the owner has no manager
    world.template.reviewer = "entitlement_owner"
    world.template.save()
    campaign = start(world)
    reviewers = dict(campaign.items.values_list("grant_id", "reviewer_id"))
    assert reviewers[world.grants.alice_crm.pk] == world.owner2.pk
    assert reviewers[world.grants.alice_admin.pk] == world.fallback.pk  # no entitlement owner


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"scope": "privileged"}, {"alice_admin"}),
        ({"scope": "terminated"}, {"gone_crm"}),
        ({"tiers": [1]}, {"alice_crm", "alice_admin", "gone_crm", "owner_crm"}),
        ({"compliance_scopes": ["sox"]}, {"alice_crm", "alice_admin", "gone_crm", "owner_crm"}),
        ({"compliance_scopes": ["pci"]}, set()),
    ],
)
def test_scopes(world, fields, expected):
    for name, value in fields.items():
        setattr(world.template, name, value)
    world.template.save()
    campaign = start(world)
    names = {name for name, g in vars(world.grants).items() if campaign.items.filter(grant=g).exists()}
    assert names == expected
    if not expected:
        assert campaign.snapshot_sha256 == hashlib.sha256(b"").hexdigest()


def test_explicit_systems_scope(world):
    world.template.systems.set([world.wiki])
    campaign = start(world)
    assert list(campaign.items.values_list("grant_id", flat=True)) == [world.grants.bob_wiki.pk]


def test_start_needs_the_right(world):
    with pytest.raises(PermissionDenied):
        reviews.start_campaign(world.template, actor=world.owner)
    with pytest.raises(PermissionDenied):
        reviews.start_campaign(world.template, actor=world.auditor)
    assert reviews.start_campaign(world.template, actor=world.compliance).snapshot_rows == 5


def test_inactive_template_is_refused(world):
    world.template.is_active = False
    world.template.save()
    with pytest.raises(ValidationError) as exc:
        start(world)
    assert "template" in exc.value.message_dict
    assert not ReviewCampaign.objects.exists()


# --- decisions --------------------------------------------------------------------------------------------------


def item(campaign, grant):
    return campaign.items.get(grant=grant)


def test_keep_is_audited(world):
    campaign = start(world)
    target = item(campaign, world.grants.alice_crm)
    before = AuditEvent.objects.count()
    decided = reviews.decide_item(target, actor=world.owner, decision="keep")
    assert decided.decision == "keep" and decided.decided_by == world.owner and decided.decided_at
    event = AuditEvent.objects.order_by("id").last()
    assert AuditEvent.objects.count() == before + 1
    assert event.changes["decision"] == ["pending", "keep"]
    assert not FulfilmentTask.objects.exists()


def test_revoke_needs_a_reason_and_opens_a_revoke_task(world):
    campaign = start(world)
    target = item(campaign, world.grants.alice_crm)
    with pytest.raises(ValidationError) as exc:
        reviews.decide_item(target, actor=world.owner, decision="revoke", reason="  ")
    assert "reason" in exc.value.message_dict
    target.refresh_from_db()
    assert target.decision == "pending"
    reviews.decide_item(target, actor=world.owner, decision="revoke", reason="Left the project")
    task = FulfilmentTask.objects.get()
    assert (task.kind, task.reason, task.grant_id, task.review_item_id) == (
        "revoke",
        "review",
        world.grants.alice_crm.pk,
        target.pk,
    )


def test_modify_opens_a_revoke_and_a_grant_task(world):
    campaign = start(world)
    target = item(campaign, world.grants.alice_admin)
    other_system = EntitlementFactory(system=world.wiki)
    with pytest.raises(ValidationError) as exc:
        reviews.decide_item(target, actor=world.owner, decision="modify", modify_to=other_system)
    assert "modify_to" in exc.value.message_dict
    readonly = EntitlementFactory(system=world.crm, slug="readonly", name="CRM read-only")
    reviews.decide_item(target, actor=world.owner, decision="modify", reason="Too much", modify_to=readonly)
    kinds = sorted(FulfilmentTask.objects.values_list("kind", "entitlement__slug"))
    assert kinds == [("grant", "readonly"), ("revoke", "admin")]


def test_decided_items_are_not_decided_again(world):
    campaign = start(world)
    target = item(campaign, world.grants.alice_crm)
    reviews.decide_item(target, actor=world.owner, decision="keep")
    with pytest.raises(ValidationError) as exc:
        reviews.decide_item(target, actor=world.owner, decision="revoke", reason="double click")
    assert "decision" in exc.value.message_dict
    assert not FulfilmentTask.objects.exists()


def test_only_the_reviewer_or_an_admin_decides_and_never_on_own_access(world):
    campaign = start(world)
    target = item(campaign, world.grants.alice_crm)
    for actor in (world.owner2, world.auditor, world.compliance, world.boss):
        with pytest.raises(PermissionDenied):
            reviews.decide_item(target, actor=actor, decision="keep")
    reviews.decide_item(target, actor=world.admin, decision="keep")
    own = item(campaign, world.grants.owner_crm)
    reviews.reassign(own, actor=world.compliance, reviewer=world.admin)
    with pytest.raises(PermissionDenied):
        reviews.decide_item(own, actor=world.owner, decision="keep")


def test_bulk_decide_is_all_or_nothing_with_one_event_each(world):
    campaign = start(world)
    mine = list(campaign.items.filter(reviewer=world.owner))
    assert len(mine) == 3
    foreign = item(campaign, world.grants.bob_wiki)
    with pytest.raises(ValidationError) as exc:
        reviews.bulk_decide([*mine, foreign], actor=world.owner, decision="keep")
    assert f"items.{foreign.pk}" in exc.value.message_dict
    assert not campaign.items.exclude(decision="pending").exists()
    with pytest.raises(ValidationError) as exc:
        reviews.bulk_decide(mine, actor=world.owner, decision="revoke")
    assert "reason" in exc.value.message_dict
    before = AuditEvent.objects.count()
    reviews.bulk_decide(mine, actor=world.owner, decision="revoke", reason="Quarterly clean-up")
    assert campaign.items.filter(decision="revoke", reason="Quarterly clean-up").count() == 3
    assert FulfilmentTask.objects.filter(kind="revoke", review_item__in=mine).count() == 3
    item_events = AuditEvent.objects.filter(object_type__endswith="reviewitem", id__gt=0).order_by("id")
    assert item_events.count() == 3
    assert AuditEvent.objects.count() > before


def test_bulk_decide_bad_input(world):
    with pytest.raises(ValidationError):
        reviews.bulk_decide([], actor=world.owner, decision="keep")
    campaign = start(world)
    mine = list(campaign.items.filter(reviewer=world.owner))
    with pytest.raises(ValidationError):
        reviews.bulk_decide(mine, actor=world.owner, decision="modify")
    with pytest.raises(ValidationError):
        reviews.bulk_decide([10**9], actor=world.owner, decision="keep")
    with pytest.raises(ValidationError):
        reviews.bulk_decide(mine, actor=world.owner, decision="maybe")


# --- reassignment ---------------------------------------------------------------------------------------------


def test_reassign_is_audited_and_guarded(world):
    campaign = start(world)
    target = item(campaign, world.grants.alice_crm)
    with pytest.raises(PermissionDenied):
        reviews.reassign(target, actor=world.owner, reviewer=world.owner2)
    with pytest.raises(PermissionDenied):
        reviews.reassign(target, actor=world.auditor, reviewer=world.owner2)
    holder = item(campaign, world.grants.owner_crm)
    with pytest.raises(ValidationError) as exc:
        reviews.reassign(holder, actor=world.compliance, reviewer=world.owner)
    assert f"items.{holder.pk}" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        reviews.reassign(target, actor=world.compliance, reviewer=world.compliance)  # no person
    assert "reviewer" in exc.value.message_dict
    before = AuditEvent.objects.count()
    assert reviews.reassign([target, holder.pk], actor=world.compliance, reviewer=world.owner2) == 2
    assert AuditEvent.objects.count() == before + 2
    target.refresh_from_db()
    assert target.reviewer == world.owner2


# --- closing ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule", ["keep", "revoke"])
def test_close_applies_keep_or_revoke(world, rule):
    world.template.undecided_rule = rule
    world.template.save()
    campaign = start(world)
    reviews.decide_item(item(campaign, world.grants.alice_crm), actor=world.owner, decision="keep")
    with pytest.raises(PermissionDenied):
        reviews.close_campaign(campaign, actor=world.auditor)
    result = reviews.close_campaign(campaign, actor=world.compliance)
    assert result.closed and result.count == 4
    campaign.refresh_from_db()
    assert campaign.state == "closed" and campaign.closed_at
    assert campaign.items.filter(decision=rule, decided_by__isnull=True).count() == 4
    assert FulfilmentTask.objects.filter(kind="revoke").count() == (4 if rule == "revoke" else 0)
    with pytest.raises(ValidationError):
        reviews.close_campaign(campaign, actor=world.compliance)
    with pytest.raises(ValidationError):
        reviews.decide_item(item(campaign, world.grants.bob_wiki), actor=world.owner2, decision="keep")


def test_close_with_escalate_hands_undecided_items_to_the_fallback(world):
    campaign = start(world)
    result = reviews.close_campaign(campaign, actor=world.compliance)
    assert not result.closed and result.count == 5
    campaign.refresh_from_db()
    assert campaign.state == "open"
    assert campaign.items.filter(reviewer=world.fallback).count() == 5
    reviews.bulk_decide(list(campaign.items.all()), actor=world.fallback, decision="keep")
    assert reviews.close_campaign(campaign, actor=world.compliance).closed


# --- jobs --------------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("huey_immediate")
def test_reminders_once_each_and_escalation_on_the_due_date(world, django_capture_on_commit_callbacks):
    campaign = start(world)  # due at the close of Wednesday 16 December

    def run(day):
        with django_capture_on_commit_callbacks(execute=True):
            return reviews.review_reminders(now=datetime.datetime(2026, 12, day, 7, 0, tzinfo=UTC))

    assert run(8) == {"reminders": 0, "escalations": 0}
    mail.outbox.clear()
    assert run(9)["reminders"] == 3  # 5 business days before: owner, owner2, fallback
    assert {m.to[0] for m in mail.outbox} == {
        "owner@example.com",
        "owner2@example.com",
        "fallback@example.com",
    }
    assert "5 business days" in mail.outbox[0].subject
    assert run(9)["reminders"] == 0  # once
    assert run(11)["reminders"] == 3  # 3 before
    assert run(14)["reminders"] == 3  # 2 before
    assert run(15)["reminders"] == 0
    reviews.bulk_decide(list(campaign.items.filter(reviewer=world.owner)), actor=world.owner, decision="keep")
    mail.outbox.clear()
    assert run(16)["escalations"] == 1
    assert "due today" in mail.outbox[0].subject
    assert "owner@example.com" not in {m.to[0] for m in mail.outbox}  # nothing left for them
    campaign.refresh_from_db()
    assert set(campaign.reminders_sent) == {"5", "3", "2", "escalated"}


@pytest.mark.usefixtures("huey_immediate")
def test_a_missed_stage_sends_only_the_latest(world, django_capture_on_commit_callbacks):
    campaign = start(world)
    with django_capture_on_commit_callbacks(execute=True):
        reviews.review_reminders(now=datetime.datetime(2026, 12, 14, 7, 0, tzinfo=UTC))
    campaign.refresh_from_db()
    assert campaign.reminders_sent["5"] == "skipped" and campaign.reminders_sent["3"] == "skipped"
    assert campaign.reminders_sent["2"] != "skipped"
    assert len(mail.outbox) == 3


def test_start_due_reviews_moves_next_run_on(world):
    world.template.next_run_on = datetime.date(2026, 9, 1)
    world.template.save()
    started = reviews.start_due_reviews(actor=SYSTEM, today=datetime.date(2026, 12, 2))
    assert len(started) == 1
    world.template.refresh_from_db()
    assert world.template.next_run_on == datetime.date(2027, 3, 1)
    assert reviews.start_due_reviews(actor=SYSTEM, today=datetime.date(2026, 12, 3)) == []


def test_add_months_clamps_the_day():
    assert reviews.add_months(datetime.date(2026, 11, 30), 3) == datetime.date(2027, 2, 28)
    assert reviews.add_months(datetime.date(2026, 1, 31), 12) == datetime.date(2027, 1, 31)


def test_default_templates_are_seeded(db):
    slugs = set(ReviewTemplate.objects.values_list("slug", flat=True))
    assert {t["slug"] for t in DEFAULT_TEMPLATES} <= slugs
    cadences = dict(ReviewTemplate.objects.values_list("slug", "cadence_months"))
    assert cadences["terminated-users-quarterly"] == 3
    assert cadences["privileged-users-quarterly"] == 3
    assert cadences["sox-all-users-quarterly"] == 3
    assert cadences["pci-all-users-semiannual"] == 6
    assert cadences["tier-1-2-annual"] == 12
    from gatehouse.access.review_defaults import ensure_review_templates

    assert ensure_review_templates() is False  # never twice


# --- pages ------------------------------------------------------------------------------------------------------


def test_campaign_pages_for_the_reviewer(world, client_for):
    campaign = start(world)
    client = client_for(world.owner)
    assert client.get(reverse("access:review_list")).status_code == 200
    page = client.get(reverse("access:campaign", args=[campaign.pk]))
    assert page.status_code == 200
    assert b"Evidence (CSV)" not in page.content
    items = client.get(reverse("access:review_items", args=[campaign.pk]) + "?reviewer=me")
    assert items.status_code == 200
    assert b"alice@example.com" in items.content and b"bob@example.com" not in items.content
    assert client.get(reverse("access:review_evidence", args=[campaign.pk, "csv"])).status_code == 403
    assert client_for(world.auditor).get(reverse("access:my_reviews")).status_code == 200


def test_people_without_items_do_not_see_the_campaign(world, client_for, member_user):
    campaign = start(world)
    client = client_for(member_user)
    assert client.get(reverse("access:campaign", args=[campaign.pk])).status_code == 404
    assert client.get(reverse("access:review_items", args=[campaign.pk])).status_code == 404


def test_bulk_decide_and_reassign_through_the_page(world, client_for):
    campaign = start(world)
    mine = list(campaign.items.filter(reviewer=world.owner).values_list("pk", flat=True))
    client = client_for(world.owner)
    url = reverse("access:review_decide", args=[campaign.pk])
    response = client.post(url, {"items": mine, "decision": "revoke", "reason": ""})
    assert response.status_code == 302
    assert not campaign.items.exclude(decision="pending").exists()
    client.post(url, {"items": mine, "decision": "revoke", "reason": "Not needed"})
    assert campaign.items.filter(decision="revoke").count() == 3
    other = item(campaign, world.grants.bob_wiki)
    assert client.post(url, {"items": [other.pk], "decision": "keep"}).status_code == 302
    other.refresh_from_db()
    assert other.decision == "pending"
    reassign = reverse("access:review_reassign", args=[campaign.pk])
    assert client.post(reassign, {"items": [other.pk], "reviewer": "fallback"}).status_code == 403
    client = client_for(world.compliance)
    client.post(reassign, {"items": [other.pk], "reviewer": "fallback"})
    other.refresh_from_db()
    assert other.reviewer == world.fallback


def test_auditor_reads_and_changes_nothing(world, client_for):
    campaign = start(world)
    client = client_for(world.auditor)
    page = client.get(reverse("access:campaign", args=[campaign.pk]))
    assert page.status_code == 200 and b"Close the campaign" not in page.content
    csv = client.get(reverse("access:review_evidence", args=[campaign.pk, "csv"]))
    assert csv.status_code == 200 and csv["Content-Disposition"].startswith("attachment")
    assert client.get(reverse("access:review_evidence", args=[campaign.pk, "json"])).status_code == 200
    assert client.get(reverse("access:review_evidence", args=[campaign.pk, "xml"])).status_code == 404
    assert client.post(reverse("access:review_close", args=[campaign.pk])).status_code == 403
    assert client.post(reverse("access:review_start"), {"template": "all"}).status_code == 403
    target = item(campaign, world.grants.alice_crm)
    client.post(
        reverse("access:review_decide", args=[campaign.pk]), {"items": [target.pk], "decision": "keep"}
    )
    target.refresh_from_db()
    assert target.decision == "pending"


def test_start_and_close_through_the_pages(world, client_for):
    client = client_for(world.compliance)
    response = client.post(reverse("access:review_start"), {"template": "all"})
    campaign = ReviewCampaign.objects.get()
    assert response.status_code == 302 and response["Location"] == campaign.get_absolute_url()
    assert client.post(reverse("access:review_start"), {"template": "nope"}).status_code == 302
    assert ReviewCampaign.objects.count() == 1
    client.post(reverse("access:review_close", args=[campaign.pk]))
    assert campaign.items.filter(reviewer=world.fallback).count() == 5


def test_list_pages_query_counts(world, client_for, django_assert_num_queries):
    campaign = start(world)
    for _ in range(3):
        start(world)
    client = client_for(world.owner)
    url = reverse("access:review_items", args=[campaign.pk]) + "?reviewer=me"
    client.get(url)
    with django_assert_num_queries(8):
        client.get(url)
    with django_assert_num_queries(9):
        client.get(reverse("access:review_list"))
    admin = client_for(world.admin)
    admin.get(reverse("access:review_items", args=[campaign.pk]))
    with django_assert_num_queries(9):
        admin.get(reverse("access:review_items", args=[campaign.pk]))
    with django_assert_num_queries(8):
        admin.get(reverse("access:campaign", args=[campaign.pk]))


def test_reviewer_page_paginates_by_50(world, client_for):
    people = [PersonFactory() for _ in range(60)]
    for person in people:
        GrantFactory(person=person, entitlement=world.crm_user)
    campaign = start(world)
    client = client_for(world.owner)
    url = reverse("access:review_items", args=[campaign.pk])
    first = client.get(url)
    assert first.context["page"].paginator.count == 63
    assert len(first.context["page"].object_list) == 50
    assert len(client.get(url + "?page=2").context["page"].object_list) == 13
    filtered = client.get(url + "?q=alice&decision=pending&privilege=admin")
    assert [i.person_email for i in filtered.context["page"].object_list] == ["alice@example.com"]


# --- API --------------------------------------------------------------------------------------------------------

API = "/api/v1/access/reviews"


def test_api_start_read_and_list(world, client, token_for):
    auth = token_for(world.compliance)
    response = client.post(
        f"{API}/campaigns", {"template": "all"}, content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["snapshot_rows"] == 5 and body["undecided"] == 5 and len(body["snapshot_sha256"]) == 64
    bad = client.post(
        f"{API}/campaigns", {"template": "nope"}, content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "template"]
    listed = client.get(f"{API}/campaigns", HTTP_AUTHORIZATION=token_for(world.auditor))
    assert listed.json()["count"] == 1
    assert client.get(f"{API}/campaigns", HTTP_AUTHORIZATION=token_for(world.boss)).json()["count"] == 0
    denied = client.post(
        f"{API}/campaigns",
        {"template": "all"},
        content_type="application/json",
        HTTP_AUTHORIZATION=token_for(world.auditor),
    )
    assert denied.status_code == 403


def test_api_items_decide_and_bulk(world, client, token_for):
    campaign = start(world)
    auth = token_for(world.owner)
    mine = client.get(f"{API}/items?decision=pending", HTTP_AUTHORIZATION=auth).json()
    assert mine["count"] == 3
    target = mine["results"][0]["id"]
    response = client.post(
        f"{API}/items/{target}/decide",
        {"decision": "revoke"},
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "reason"]
    response = client.post(
        f"{API}/items/{target}/decide",
        {"decision": "revoke", "reason": "gone"},
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 200 and response.json()["decision"] == "revoke"
    rest = [r["id"] for r in mine["results"][1:]]
    response = client.post(
        f"{API}/campaigns/{campaign.pk}/items/decide",
        {"items": rest, "decision": "keep"},
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.json() == {"count": 2}
    foreign = item(campaign, world.grants.bob_wiki).pk
    assert client.get(f"{API}/items/{foreign}", HTTP_AUTHORIZATION=auth).status_code == 404
    response = client.post(
        f"{API}/campaigns/{campaign.pk}/items/reassign",
        {"items": [foreign], "reviewer": "owner"},
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert response.status_code == 403
    response = client.post(
        f"{API}/campaigns/{campaign.pk}/items/reassign",
        {"items": [foreign], "reviewer": "owner"},
        content_type="application/json",
        HTTP_AUTHORIZATION=token_for(world.compliance),
    )
    assert response.json() == {"count": 1}


def test_api_evidence_and_close(world, client, token_for):
    campaign = start(world)
    auditor = token_for(world.auditor)
    response = client.get(f"{API}/campaigns/{campaign.pk}/evidence?format=json", HTTP_AUTHORIZATION=auditor)
    assert response.status_code == 200 and response.json()["snapshot"]["row_count"] == 5
    assert (
        client.get(
            f"{API}/campaigns/{campaign.pk}/evidence", HTTP_AUTHORIZATION=token_for(world.owner)
        ).status_code
        == 403
    )
    assert client.post(f"{API}/campaigns/{campaign.pk}/close", HTTP_AUTHORIZATION=auditor).status_code == 403
    closed = client.post(
        f"{API}/campaigns/{campaign.pk}/close", HTTP_AUTHORIZATION=token_for(world.compliance)
    )
    assert closed.json()["closed"] is False and closed.json()["items"] == 5


def test_api_templates(world, client, token_for):
    auth = token_for(world.compliance)
    listed = client.get(f"{API}/templates", HTTP_AUTHORIZATION=auth).json()
    assert listed["count"] == len(DEFAULT_TEMPLATES) + 1
    payload = {
        "slug": "pci-admins",
        "name": "PCI admins",
        "scope": "privileged",
        "compliance_scopes": ["pci"],
        "systems": ["crm"],
        "fallback_reviewer": "fallback",
    }
    created = client.post(
        f"{API}/templates", payload, content_type="application/json", HTTP_AUTHORIZATION=auth
    )
    assert created.status_code == 201, created.content
    assert created.json()["systems"] == ["crm"]
    again = client.post(f"{API}/templates", payload, content_type="application/json", HTTP_AUTHORIZATION=auth)
    assert again.status_code == 422
    bad = client.post(
        f"{API}/templates",
        {**payload, "slug": "x", "name": "X", "compliance_scopes": ["nope"]},
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "compliance_scopes"]
    patched = client.patch(
        f"{API}/templates/pci-admins",
        {"cadence_months": 6},
        content_type="application/json",
        HTTP_AUTHORIZATION=auth,
    )
    assert patched.json()["cadence_months"] == 6
    assert client.get(f"{API}/templates", HTTP_AUTHORIZATION=token_for(world.owner)).json()["count"] == 0
    denied = client.patch(
        f"{API}/templates/pci-admins",
        {"cadence_months": 6},
        content_type="application/json",
        HTTP_AUTHORIZATION=token_for(world.auditor),
    )
    assert denied.status_code == 403


def test_api_list_query_counts(world, client, token_for, django_assert_num_queries):
    campaign = start(world)
    start(world)
    auth = token_for(world.admin)
    client.get(f"{API}/campaigns/{campaign.pk}/items", HTTP_AUTHORIZATION=auth)
    with django_assert_num_queries(8):
        response = client.get(f"{API}/campaigns/{campaign.pk}/items", HTTP_AUTHORIZATION=auth)
    assert response.json()["count"] == 5
    with django_assert_num_queries(7):
        client.get(f"{API}/campaigns", HTTP_AUTHORIZATION=auth)
    with django_assert_num_queries(8):
        client.get(f"{API}/templates", HTTP_AUTHORIZATION=auth)
