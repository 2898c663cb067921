# ruff: noqa: F811  (the `world` fixture is imported from request_world)
"""Access requests and approvals (part B): policy, approvers, decisions, locks, expiry, visibility."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.utils import timezone

from gatehouse.access import requests as svc
from gatehouse.access.models import AccessRequest, AccessRequestItem, ApprovalStep, FulfilmentTask
from gatehouse.access.tests.request_world import world  # noqa: F401
from gatehouse.audit.models import AuditEvent
from gatehouse.desk.models import Comment, Status
from gatehouse.directory.models import PersonStatus

pytestmark = pytest.mark.django_db


def ask(world, actor=None, subjects=None, ents=None, **kw):
    actor = actor or world.users.member
    return svc.request_access(
        actor=actor,
        subjects=subjects or [actor.person],
        entitlements=ents or [world.ents.user],
        justification=kw.pop("justification", "Onboarding to the identity team."),
        **kw,
    )


def steps_of(access_request):
    return list(
        ApprovalStep.objects.filter(item__access_request=access_request).order_by("item_id", "position")
    )


def decide(step, user, approve=True, comment="ok", channel="web"):
    step = ApprovalStep.objects.select_related("item", "item__access_request").get(pk=step.pk)
    return svc.decide(step, actor=user, approve=approve, comment=comment, channel=channel)


# --- policy -------------------------------------------------------------------------------------------------


def test_default_policy_files_a_desk_request_with_manager_then_owner_steps(
    world, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        ar = ask(world, duration_days=10)
    desk = ar.desk_request
    assert desk.request_type.slug == "access-request"
    assert desk.system == world.okta
    assert desk.requester == world.people.member
    assert desk.fields["access_level"] == "Standard"
    assert desk.fields["justification"] == "Onboarding to the identity team."
    assert desk.fields["approver"] == "mona@example.com"
    assert [s.kind for s in steps_of(ar)] == ["manager", "system_owner"]
    assert all(s.link_nonce for s in steps_of(ar))
    assert ar.state == "pending" and ar.duration_days == 10
    # The manager is asked (with a link); the owner not yet.
    to = [m.to[0] for m in mail.outbox if "Approve" in m.subject]
    assert to == ["mona@example.com"]
    assert "/access/approve/" in next(m for m in mail.outbox if "Approve" in m.subject).body


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("user", ["manager", "system_owner"]),
        ("admin", ["manager", "system_owner"]),
        ("owner_only", ["system_owner"]),
        ("manager_only", ["manager"]),
        ("crown", ["manager", "system_owner"]),  # Tier 1: both, whatever the policy
        ("baseline", []),
        ("free", []),
    ],
)
def test_steps_follow_the_policy(world, name, kinds):
    assert svc.steps_for(getattr(world.ents, name)) == kinds


def test_admin_privilege_needs_both_even_with_policy_none_or_baseline(world):
    ent = world.ents.admin
    ent.approval_policy = "none"
    ent.is_baseline = True
    assert svc.steps_for(ent) == ["manager", "system_owner"]


def test_baseline_and_policy_none_are_approved_at_once_with_a_grant_task(world):
    ar = ask(world, ents=[world.ents.baseline, world.ents.free])
    ar.refresh_from_db()
    assert ar.state == "approved"
    assert set(ar.items.values_list("state", flat=True)) == {"approved"}
    tasks = FulfilmentTask.objects.filter(request_item__access_request=ar)
    assert (
        tasks.count() == 2
        and {t.kind for t in tasks} == {"grant"}
        and {t.reason for t in tasks} == {"request"}
    )
    assert not ApprovalStep.objects.filter(item__access_request=ar).exists()
    ar.desk_request.refresh_from_db()
    assert ar.desk_request.status == Status.IN_PROGRESS


def test_several_people_and_entitlements_make_one_item_each(world):
    ar = ask(
        world,
        actor=world.users.manager,
        subjects=[world.people.member, world.people.colleague],
        ents=[world.ents.user, world.ents.owner_only],
    )
    assert ar.items.count() == 4
    assert ar.requested_by == world.people.manager
    assert set(ar.desk_request.watchers.all()) == {world.people.member, world.people.colleague}


# --- validation ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"ents": "closed"}, "entitlements"),
        ({"justification": "  "}, "justification"),
        ({"duration_days": 31, "ents": "short"}, "duration_days"),
        ({"duration_days": 0}, "duration_days"),
        ({"duration_days": "ten"}, "duration_days"),
        ({"subjects": []}, "subjects"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(world, change, field):
    kw = dict(change)
    if "ents" in kw:
        kw["ents"] = [getattr(world.ents, kw["ents"])]
    if kw.get("subjects") == []:
        with pytest.raises(ValidationError) as exc:
            svc.request_access(
                actor=world.users.member, subjects=[], entitlements=[world.ents.user], justification="x"
            )
    else:
        with pytest.raises(ValidationError) as exc:
            ask(world, **kw)
    assert field in exc.value.message_dict
    assert not AccessRequest.objects.exists()
    assert not Comment.objects.exists()


def test_terminated_people_held_access_and_open_requests_are_refused(world):
    world.people.colleague.status = PersonStatus.TERMINATED
    world.people.colleague.save()
    with pytest.raises(ValidationError) as exc:
        ask(world, subjects=[world.people.colleague])
    assert "left the company" in exc.value.message_dict["subjects"][0]
    ask(world)
    with pytest.raises(ValidationError) as exc:
        ask(world)
    assert "already has a request open" in exc.value.message_dict["entitlements"][0]


def test_duration_is_capped_by_the_entitlement_maximum(world):
    ar = ask(world, ents=[world.ents.short])
    item = ar.items.get()
    assert svc.item_days(item) == 30
    ar2 = ask(
        world,
        subjects=[world.people.colleague],
        actor=world.users.colleague,
        ents=[world.ents.short],
        duration_days=5,
    )
    assert svc.item_days(ar2.items.get()) == 5


# --- deciding -----------------------------------------------------------------------------------------------


def test_full_approval_opens_a_grant_task_and_tells_the_requester(world, django_capture_on_commit_callbacks):
    ar = ask(world, duration_days=10)
    manager_step, owner_step = steps_of(ar)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        decide(manager_step, world.users.manager, comment="Fine by me")
    # The owner is now asked; the requester hears (the desk reply is mailed to them).
    assert any(m.to == ["omar@example.com"] and "Approve" in m.subject for m in mail.outbox)
    assert any(m.to == ["lucas@example.com"] and "approved by Mona Manager" in m.body for m in mail.outbox)
    with pytest.raises(PermissionDenied):
        decide(owner_step, world.users.manager)  # distinct approvers
    with django_capture_on_commit_callbacks(execute=True):
        decide(owner_step, world.users.owner)
    ar.refresh_from_db()
    item = ar.items.get()
    assert (ar.state, item.state) == ("approved", "approved")
    assert item.ends_at is not None and item.ends_at - timezone.now() > datetime.timedelta(days=9)
    task = FulfilmentTask.objects.get(request_item=item)
    assert (task.kind, task.person, task.entitlement) == ("grant", world.people.member, world.ents.user)
    replies = list(
        Comment.objects.filter(request=ar.desk_request, is_internal=False).values_list("body", flat=True)
    )
    assert len(replies) == 2 and "Next: system owner approval." in replies[0]
    assert "All approvals are in" in replies[1]
    step = ApprovalStep.objects.get(pk=owner_step.pk)
    assert (step.decision, step.decided_by, step.channel, step.link_nonce) == (
        "approved",
        world.users.owner,
        "web",
        "",
    )
    assert AuditEvent.objects.filter(object_type="access.approvalstep", object_id=str(step.pk)).exists()


def test_steps_are_decided_in_order(world):
    ar = ask(world)
    _, owner_step = steps_of(ar)
    with pytest.raises(PermissionDenied, match="earlier approval step"):
        decide(owner_step, world.users.owner)


def test_a_rejection_rejects_the_item_and_the_request(world):
    ar = ask(world)
    manager_step, owner_step = steps_of(ar)
    with pytest.raises(ValidationError) as exc:
        decide(manager_step, world.users.manager, approve=False, comment="")
    assert "comment" in exc.value.message_dict
    decide(manager_step, world.users.manager, approve=False, comment="Not for this project")
    ar.refresh_from_db()
    assert ar.state == "rejected" and ar.closed_at is not None
    assert ar.items.get().state == "rejected"
    assert ApprovalStep.objects.get(pk=owner_step.pk).decision == "skipped"
    assert not FulfilmentTask.objects.exists()
    ar.desk_request.refresh_from_db()
    assert ar.desk_request.status == Status.RESOLVED


def test_mixed_items_leave_the_request_approved_for_what_was(world):
    ar = ask(world, ents=[world.ents.owner_only, world.ents.manager_only])
    owner_step, manager_step = steps_of(ar)
    decide(owner_step, world.users.owner)
    ar.refresh_from_db()
    assert ar.state == "pending"
    decide(manager_step, world.users.manager, approve=False, comment="No")
    ar.refresh_from_db()
    assert ar.state == "approved"
    assert FulfilmentTask.objects.count() == 1


def test_a_second_decision_on_a_step_is_refused_and_grants_nothing_twice(world):
    ar = ask(world, ents=[world.ents.owner_only])
    (step,) = steps_of(ar)
    stale = ApprovalStep.objects.select_related("item", "item__access_request").get(pk=step.pk)
    decide(step, world.users.owner)
    with pytest.raises(svc.AlreadyDecided, match="already approved"):
        svc.decide(stale, actor=world.users.owner, approve=True)
    with pytest.raises(svc.AlreadyDecided):
        svc.decide(stale, actor=world.users.admin, approve=False, comment="late")
    assert FulfilmentTask.objects.count() == 1


def test_the_claim_holds_even_if_the_lock_was_not_taken(world):
    """The compare-and-set in _claim refuses a step already decided in the database (SQLite has no row locks)."""
    ar = ask(world, ents=[world.ents.owner_only])
    (step,) = steps_of(ar)
    ApprovalStep.objects.filter(pk=step.pk).update(decision="approved")
    with pytest.raises(svc.AlreadyDecided):
        svc._claim(step, {"decision": "rejected"})


# --- who may decide -----------------------------------------------------------------------------------------


def test_nobody_approves_a_request_they_filed_it_goes_to_the_skip_level_manager(world):
    ar = ask(world, actor=world.users.manager, subjects=[world.people.member])
    manager_step, _ = steps_of(ar)
    with pytest.raises(PermissionDenied, match="filed"):
        decide(manager_step, world.users.manager)
    assert [u.username for u in svc.eligible_approvers(manager_step)] == ["bea"]
    assert manager_step in svc.steps_waiting_for(world.users.boss)
    assert manager_step not in svc.steps_waiting_for(world.users.manager)
    decide(manager_step, world.users.boss)


def test_nobody_approves_their_own_access(world):
    ar = ask(world, actor=world.users.manager, subjects=[world.people.owner], ents=[world.ents.owner_only])
    (step,) = steps_of(ar)
    with pytest.raises(PermissionDenied, match="own access"):
        decide(step, world.users.owner)
    # No other owner: the admins are the fallback.
    assert [u.username for u in svc.eligible_approvers(step)] == ["root"]
    assert step in svc.steps_waiting_for(world.users.admin)
    assert step not in svc.steps_waiting_for(world.users.owner)
    decide(step, world.users.admin)


def test_a_manager_who_also_owns_the_system_decides_one_step_only(world):
    world.team.members.add(world.people.manager)
    ar = ask(world)
    manager_step, owner_step = steps_of(ar)
    decide(manager_step, world.users.manager)
    assert [u.username for u in svc.eligible_approvers(owner_step)] == ["omar"]
    assert owner_step not in svc.steps_waiting_for(world.users.manager)
    with pytest.raises(PermissionDenied, match="different approver"):
        decide(owner_step, world.users.manager)


def test_strangers_and_auditors_cannot_decide(world):
    ar = ask(world)
    manager_step, _ = steps_of(ar)
    with pytest.raises(PermissionDenied):
        decide(manager_step, world.users.outsider)
    with pytest.raises(PermissionDenied, match="Auditors"):
        decide(manager_step, world.users.auditor)
    assert not svc.steps_waiting_for(world.users.auditor).exists()
    assert ApprovalStep.objects.get(pk=manager_step.pk).decision == "pending"


# --- visibility ---------------------------------------------------------------------------------------------


def test_who_sees_what(world):
    mine = ask(world)
    crown = ask(
        world, actor=world.users.colleague, subjects=[world.people.colleague], ents=[world.ents.crown]
    )

    def seen(user):
        return set(svc.visible_requests(user))

    assert seen(world.users.member) == {mine}
    assert seen(world.users.manager) == {mine, crown}  # reports
    assert seen(world.users.boss) == {mine, crown}  # reports' reports
    assert seen(world.users.owner) == {mine, crown}  # their systems
    assert seen(world.users.outsider) == set()
    assert seen(world.users.auditor) == {mine, crown}
    assert seen(world.users.admin) == {mine, crown}
    assert set(svc.steps_waiting_for(world.users.manager)) == set(ApprovalStep.objects.filter(kind="manager"))
    # Tier 1: manager first; the owner's step waits until then.
    assert set(svc.steps_waiting_for(world.users.owner)) == set()
    crown_manager_step = ApprovalStep.objects.get(item__access_request=crown, kind="manager")
    decide(crown_manager_step, world.users.manager)
    assert set(svc.steps_waiting_for(world.users.owner)) == {
        ApprovalStep.objects.get(item__access_request=crown, kind="system_owner")
    }


# --- cancel and expiry --------------------------------------------------------------------------------------


def test_the_requester_cancels_a_pending_request(world):
    ar = ask(world)
    with pytest.raises(PermissionDenied):
        svc.cancel_request(ar, actor=world.users.manager)
    svc.cancel_request(ar, actor=world.users.member, reason="Not needed after all")
    ar.refresh_from_db()
    assert ar.state == "cancelled"
    assert set(ApprovalStep.objects.values_list("decision", flat=True)) == {"skipped"}
    ar.desk_request.refresh_from_db()
    assert ar.desk_request.status == Status.CLOSED
    with pytest.raises(svc.AlreadyDecided):
        svc.cancel_request(ar, actor=world.users.member)


def test_stale_requests_close_after_30_days(world, django_capture_on_commit_callbacks):
    old = ask(world)
    fresh = ask(world, actor=world.users.colleague, subjects=[world.people.colleague])
    AccessRequest.objects.filter(pk=old.pk).update(created=timezone.now() - datetime.timedelta(days=31))
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert svc.expire_stale_requests() == 1
    old.refresh_from_db()
    fresh.refresh_from_db()
    assert (old.state, fresh.state) == ("expired", "pending")
    assert old.items.get().state == "cancelled"
    assert set(ApprovalStep.objects.filter(item__access_request=old).values_list("decision", flat=True)) == {
        "skipped"
    }
    old.desk_request.refresh_from_db()
    assert old.desk_request.status == Status.CLOSED
    assert any(m.to == ["lucas@example.com"] and "30 days" in m.body for m in mail.outbox)
    assert AuditEvent.objects.filter(
        object_type="access.accessrequest", object_id=str(old.pk), changes__state=["pending", "expired"]
    ).exists()
    assert svc.expire_stale_requests() == 0
    manager_step = ApprovalStep.objects.filter(item__access_request=old).first()
    with pytest.raises(svc.AlreadyDecided):
        decide(manager_step, world.users.manager)


def test_fulfilment_marks_items_and_the_request_fulfilled(world):
    ar = ask(world, ents=[world.ents.free])
    item = ar.items.get()
    svc.mark_item_fulfilled(item)
    ar.refresh_from_db()
    assert (ar.items.get().state, ar.state) == ("fulfilled", "fulfilled")
    ar.desk_request.refresh_from_db()
    assert ar.desk_request.status == Status.RESOLVED
    svc.mark_item_fulfilled(item)  # idempotent


# --- concurrency (PostgreSQL: real row locks and two connections) ----------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_decisions_on_one_step_decide_it_once(world):
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs two real connections with row locks (PostgreSQL); SQLite: see test_the_claim_holds..."
        )
    from django.db import connections

    ar = ask(world, ents=[world.ents.owner_only])
    (step,) = steps_of(ar)
    barrier = threading.Barrier(2)
    results: list[str] = []

    def attempt(user):
        try:
            obj = ApprovalStep.objects.select_related("item", "item__access_request").get(pk=step.pk)
            barrier.wait(timeout=10)
            svc.decide(obj, actor=user, approve=True, comment="go")
            results.append("ok")
        except svc.AlreadyDecided:
            results.append("conflict")
        except PermissionDenied as exc:  # the loser may also see the step decided when checking
            results.append(f"denied: {exc}")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=attempt, args=(u,)) for u in (world.users.owner, world.users.admin)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert sorted(results) == ["conflict", "ok"]
    assert FulfilmentTask.objects.filter(request_item__access_request=ar).count() == 1
    assert AccessRequestItem.objects.get(access_request=ar).state == "approved"


def test_completing_the_grant_task_fulfils_the_request(world):
    """The whole path through part C: the approved item's grant task, done by hand, fulfils the request."""
    from gatehouse.access.fulfilment import complete_task
    from gatehouse.access.models import FulfilmentTask
    from gatehouse.core.permissions import SYSTEM

    ar = ask(world, ents=[world.ents.free])
    task = FulfilmentTask.objects.get(request_item__access_request=ar)
    complete_task(task, actor=SYSTEM, evidence="Added in the admin console, ticket 42.")
    ar.refresh_from_db()
    assert (ar.items.get().state, ar.state) == ("fulfilled", "fulfilled")
    assert task.person.grants.filter(entitlement=task.entitlement, ended_at__isnull=True).exists()
