"""The demo's access story: one leaver in progress and one open review campaign (issue 4, item 9)."""

from django.utils import timezone

from gatehouse.access import fulfilment, lifecycle
from gatehouse.access.models import FulfilmentTask, LifecycleEvent, ReviewCampaign, ReviewItem
from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.demo.access import pick_leaver
from gatehouse.demo.services import load_demo
from gatehouse.directory.models import PersonStatus
from gatehouse.users.models import User


def test_one_leaver_in_progress_through_the_leaver_path(demo):
    event = LifecycleEvent.objects.get(kind=LifecycleEvent.Kind.LEAVER)
    person = event.person
    assert person == pick_leaver() and person.status == PersonStatus.TERMINATED
    assert event.completed_at is None and event.details["status"] == ["leaving", "terminated"]
    tasks = list(FulfilmentTask.objects.filter(lifecycle_event=event).select_related("entitlement__system"))
    assert len(tasks) == event.details["grants"] > 5
    assert {t.kind for t in tasks} == {"revoke"} and {t.reason for t in tasks} == {"leaver"}
    done = [t for t in tasks if t.state == FulfilmentTask.State.DONE]
    still_open = [t for t in tasks if t.state in fulfilment.OPEN_STATES]
    overdue = [t for t in still_open if fulfilment.is_overdue(t)]
    assert done and len(still_open) >= 2
    assert [t.entitlement.system.slug for t in overdue] == ["slack"]
    for task in done:  # by hand, with evidence, by the helpdesk; the grant ended
        assert task.evidence and task.done_by.username == "helpdesk" and task.grant.ended_at is not None
    for task in still_open:
        assert task.grant.ended_at is None  # access stays on the books until the revoke is done
    # The leaver dashboard shows it.
    rows = lifecycle.leaver_dashboard(User.objects.get(username="admin"))
    assert [r["person"] for r in rows] == [person]
    assert rows[0]["overdue"] == 1 and rows[0]["open"] == len(still_open)


def test_one_open_review_campaign_with_some_decisions(demo):
    campaign = ReviewCampaign.objects.get()
    assert campaign.template.slug == "sox-all-users-quarterly"
    assert campaign.state == ReviewCampaign.State.OPEN and campaign.due_at > timezone.now()
    assert campaign.snapshot_rows == campaign.items.count() > 100 and len(campaign.snapshot_sha256) == 64
    decided = campaign.items.exclude(decision=ReviewItem.Decision.PENDING).select_related("decided_by")
    kept = [i for i in decided if i.decision == ReviewItem.Decision.KEEP]
    revoked = [i for i in decided if i.decision == ReviewItem.Decision.REVOKE]
    assert len(kept) >= 4 and revoked
    assert campaign.items.filter(decision=ReviewItem.Decision.PENDING).exists()
    for item in decided:
        assert item.decided_by == item.reviewer and item.decided_at < timezone.now()
    for item in revoked:
        assert item.person_status == PersonStatus.TERMINATED and item.reason.startswith("Left the company")
        assert FulfilmentTask.objects.filter(review_item=item, kind="revoke", reason="review").count() == 1
    # One audit event for the start, one per decision.
    assert AuditEvent.objects.filter(object_type="access.reviewcampaign").count() == 1
    assert AuditEvent.objects.filter(object_type="access.reviewitem").count() == decided.count()


def test_a_second_load_adds_no_access_story(demo):
    counts = (
        LifecycleEvent.objects.count(),
        FulfilmentTask.objects.count(),
        ReviewCampaign.objects.count(),
        ReviewItem.objects.exclude(decision="pending").count(),
        AuditEvent.objects.count(),
    )
    again = load_demo(actor=SYSTEM)
    assert again.audit_events == 0
    assert again.created["review campaigns"] == 0 and again.created["leavers in progress"] == 0
    assert again.created["grants"] == 0  # the leaver's ended grants are not handed back
    assert counts == (
        LifecycleEvent.objects.count(),
        FulfilmentTask.objects.count(),
        ReviewCampaign.objects.count(),
        ReviewItem.objects.exclude(decision="pending").count(),
        AuditEvent.objects.count(),
    )
