"""The demo's desk requests: a few dozen across types, systems and states, loaded through the services, the same
every time, and a second load changes nothing."""

from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.demo.desk import STORIES
from gatehouse.demo.services import load_demo
from gatehouse.desk import selectors
from gatehouse.desk.models import Comment, Escalation, Request, SlaState, Status
from gatehouse.users.models import User


def test_requests_cover_types_systems_and_states(demo):
    # The endpoint demo's remediation requests are filed by Gatehouse itself (see test_endpoints_demo).
    requests = Request.objects.exclude(request_type__slug="endpoint-remediation")
    assert demo.totals["requests"] == len(STORIES) == requests.count() and demo.created["requests"] == len(
        STORIES
    )
    assert len({r.request_type_id for r in requests}) == 7
    assert requests.filter(system__isnull=False).values("system").distinct().count() >= 12
    statuses = set(requests.values_list("status", flat=True))
    assert {
        Status.NEW,
        Status.IN_PROGRESS,
        Status.WAITING_ON_REQUESTER,
        Status.RESOLVED,
        Status.CLOSED,
    } <= statuses
    assert Comment.objects.filter(is_internal=True).exists() and Escalation.objects.exists()
    assert requests.filter(first_responded_at__isnull=False).count() >= 15
    # Every change went through the services: each request has its audited creation.
    created = AuditEvent.objects.filter(object_type="desk.request", action="create")
    assert created.filter(
        object_id__in=[str(pk) for pk in requests.values_list("pk", flat=True)]
    ).count() == len(STORIES)


def test_some_are_breached_and_the_history_is_in_the_past(demo):
    from gatehouse.desk import sla

    if sla.open_policy_ids(Request.objects.order_by("-created").first().created):
        breached = Request.objects.filter(first_response_state=SlaState.BREACHED) | Request.objects.filter(
            resolution_state=SlaState.BREACHED
        )
        assert breached.exists()
    oldest = Request.objects.order_by("created").first()
    newest = Request.objects.order_by("-created").first()
    assert (newest.created - oldest.created).days >= 15


def test_the_demo_users_see_their_part(demo):
    owner = User.objects.get(username="owner")
    helpdesk = User.objects.get(username="helpdesk")
    member = User.objects.get(username="member")
    owned = selectors.visible_requests(owner)
    assert owned.filter(system__slug="okta-sso").exists() and not owned.filter(system__slug="zoom").exists()
    assert selectors.visible_requests(helpdesk).filter(queue__is_triage=True).exists()
    mine = selectors.visible_requests(member)
    assert mine.exists() and all(r.requester_id == member.person_id for r in mine)


def test_a_second_load_changes_nothing(demo):
    events = AuditEvent.objects.count()
    again = load_demo(actor=SYSTEM)
    assert again.created["requests"] == 0 and again.totals["requests"] == len(STORIES)
    assert AuditEvent.objects.count() == events
