"""The SLA clock: start, pause, resume, first response, resolution, reopen, retarget, the page's clock and the
scheduled job (flag, notify once and only inside hours, escalate breached tier 2, never flag paused)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gatehouse.audit.models import AuditEvent
from gatehouse.catalog.tests.factories import SystemFactory
from gatehouse.core import context
from gatehouse.core.context import Source
from gatehouse.core.services import update_object
from gatehouse.desk import sla
from gatehouse.desk.models import Escalation, Holiday, Request, SlaState, Status, Tier
from gatehouse.desk.tests.factories import (
    BusinessCalendarFactory,
    QueueFactory,
    RequestFactory,
    RequestTypeFactory,
    SlaPolicyFactory,
    SlaTargetFactory,
)
from gatehouse.directory.tests.factories import TeamFactory

H = 3600
MONDAY = datetime(2026, 11, 30, 0, 0, tzinfo=UTC)  # a Monday
NINE_TO_FIVE = {str(d): [["09:00", "17:00"]] for d in range(1, 6)}

pytestmark = pytest.mark.django_db


@pytest.fixture
def events(monkeypatch):
    """Every desk notification, as (request pk, event)."""
    from gatehouse.desk import notifications

    sent: list[tuple[int, str]] = []
    monkeypatch.setattr(
        notifications, "request_event", lambda request, event, **kw: sent.append((request.pk, event))
    )
    return sent


@pytest.fixture
def policy():
    """A 24x5 UTC policy: normal 1h / 8h, urgent 15m / 2h, urgent at tier 3 30m / 4h."""
    calendar = BusinessCalendarFactory(time_zone="UTC")
    policy = SlaPolicyFactory(calendar=calendar)
    SlaTargetFactory(policy=policy, priority="normal", first_response_minutes=60, resolution_minutes=8 * 60)
    SlaTargetFactory(policy=policy, priority="urgent", first_response_minutes=15, resolution_minutes=120)
    SlaTargetFactory(
        policy=policy, priority="urgent", tier=3, first_response_minutes=30, resolution_minutes=240
    )
    return policy


def make_request(policy, created: datetime, **fields) -> Request:
    """A request filed at `created` with its clock started (audited, as the services do)."""
    request = RequestFactory(request_type=RequestTypeFactory(sla_policy=policy), **fields)
    Request.objects.filter(pk=request.pk).update(created=created)
    request.refresh_from_db()
    return save(request, sla.start_clock(request))


def save(request: Request, changes: dict) -> Request:
    if changes:
        update_object(request, fields=changes)
    request.refresh_from_db()
    return request


# -- the hooks -------------------------------------------------------------------------------------------------


def test_start_clock_sets_due_and_warning_instants(policy):
    request = make_request(policy, MONDAY + timedelta(hours=10))
    assert request.sla_policy == policy
    assert request.first_response_due == MONDAY + timedelta(hours=11)
    assert request.first_response_warn_at == MONDAY + timedelta(hours=10, minutes=48)
    assert request.resolution_due == MONDAY + timedelta(hours=18)
    assert request.resolution_warn_at == MONDAY + timedelta(hours=16, minutes=24)
    assert request.first_response_state == request.resolution_state == SlaState.OK


def test_start_clock_on_friday_evening_runs_into_monday(policy):
    friday = MONDAY - timedelta(days=3) + timedelta(hours=20)
    request = make_request(policy, friday)
    assert request.resolution_due == MONDAY + timedelta(hours=4)  # 4h on Friday, 4h on Monday


def test_start_clock_does_not_touch_the_request_object(policy):
    request = RequestFactory(request_type=RequestTypeFactory(sla_policy=policy))
    changes = sla.start_clock(request)
    assert set(changes) >= {"sla_policy", "first_response_due", "resolution_due", "first_response_state"}
    assert request.first_response_due is None and request.sla_policy is None


def test_no_policy_or_no_target_means_no_clock(policy, monkeypatch):
    monkeypatch.setattr(sla, "DEFAULT_POLICY_SLUG", "no-such-policy")
    request = RequestFactory(request_type=RequestTypeFactory(sla_policy=None))
    assert sla.start_clock(request) == {}  # nothing to set
    low = RequestFactory(request_type=RequestTypeFactory(sla_policy=policy), priority="low")
    assert sla.start_clock(low) == {"sla_policy": policy}


def test_the_default_policy_applies_when_the_type_has_none():
    request = RequestFactory(request_type=RequestTypeFactory(sla_policy=None))
    assert sla.start_clock(request)["sla_policy"].slug == "default"


def test_a_target_with_the_tier_wins(policy):
    assert sla.select_target(policy, "urgent", Tier.HELPDESK).resolution_minutes == 120
    assert sla.select_target(policy, "urgent", Tier.ENGINEERING).resolution_minutes == 240
    assert sla.select_target(policy, "normal", Tier.ENGINEERING).resolution_minutes == 480
    assert sla.select_target(policy, "low", Tier.HELPDESK) is None


def test_pause_and_resume_move_the_due_times_by_the_business_time_paused(policy):
    request = make_request(policy, MONDAY + timedelta(hours=9))
    request = save(request, sla.pause(request, MONDAY + timedelta(hours=10)))
    assert request.paused_at == MONDAY + timedelta(hours=10)
    assert sla.pause(request, MONDAY + timedelta(hours=11)) == {}  # already paused
    request = save(request, sla.resume(request, MONDAY + timedelta(hours=12, minutes=30)))
    assert request.paused_at is None
    assert request.paused_seconds == 2.5 * H
    assert request.first_response_due == MONDAY + timedelta(hours=12, minutes=30)
    assert request.resolution_due == MONDAY + timedelta(hours=19, minutes=30)
    assert sla.resume(request, MONDAY + timedelta(hours=13)) == {}  # not paused


def test_a_pause_over_the_weekend_counts_only_business_time(policy):
    friday = MONDAY - timedelta(days=3)
    request = make_request(policy, friday + timedelta(hours=20))
    request = save(request, sla.record_first_response(request, friday + timedelta(hours=20, minutes=30)))
    request = save(request, sla.pause(request, friday + timedelta(hours=22)))
    request = save(request, sla.resume(request, MONDAY + timedelta(hours=1)))
    assert request.paused_seconds == 3 * H  # 2h on Friday, 1h on Monday
    assert request.resolution_due == MONDAY + timedelta(hours=7)
    # The met first-response clock is not moved by later pauses.
    assert request.first_response_due == friday + timedelta(hours=21)


def test_first_response_met_or_breached(policy):
    on_time = make_request(policy, MONDAY + timedelta(hours=9))
    on_time = save(
        on_time, sla.record_first_response(on_time, MONDAY + timedelta(hours=10))
    )  # exactly at due
    assert on_time.first_response_state == SlaState.MET
    assert on_time.first_responded_at == MONDAY + timedelta(hours=10)
    assert sla.record_first_response(on_time, MONDAY + timedelta(hours=11)) == {}
    late = make_request(policy, MONDAY + timedelta(hours=9))
    late = save(late, sla.record_first_response(late, MONDAY + timedelta(hours=10, seconds=1)))
    assert late.first_response_state == SlaState.BREACHED


def test_a_reply_while_paused_is_judged_at_the_pause(policy):
    request = make_request(policy, MONDAY + timedelta(hours=9))
    request = save(request, sla.pause(request, MONDAY + timedelta(hours=9, minutes=30)))
    changes = sla.record_first_response(request, MONDAY + timedelta(hours=15))
    assert changes["first_response_state"] == SlaState.MET
    assert "paused_at" not in changes  # still waiting on the requester


def test_resolution_ends_a_pause_and_counts_as_first_response(policy):
    request = make_request(policy, MONDAY + timedelta(hours=9))
    request = save(request, sla.pause(request, MONDAY + timedelta(hours=9, minutes=30)))
    request = save(request, sla.record_resolution(request, MONDAY + timedelta(hours=20)))
    assert request.paused_at is None
    assert request.resolution_state == SlaState.MET
    assert request.first_response_state == SlaState.MET
    assert request.first_responded_at == MONDAY + timedelta(hours=20)
    assert request.resolved_at == MONDAY + timedelta(hours=20)
    assert sla.record_resolution(request, MONDAY + timedelta(hours=21)) == {}


def test_reopen_restarts_the_resolution_clock_without_counting_the_resolved_time(policy):
    request = make_request(policy, MONDAY + timedelta(hours=9))
    request = save(request, sla.record_resolution(request, MONDAY + timedelta(hours=12)))
    assert request.resolution_state == SlaState.MET
    request = save(request, sla.reopen(request, MONDAY + timedelta(days=1, hours=12)))
    assert request.resolved_at is None
    assert request.resolution_state == SlaState.OK
    assert request.paused_seconds == 24 * H
    assert request.resolution_due == MONDAY + timedelta(days=1, hours=17)  # 5h left of the 8h
    assert sla.reopen(request, MONDAY + timedelta(days=2)) == {}


def test_a_breach_stays_a_breach(policy):
    request = make_request(policy, MONDAY + timedelta(hours=9))
    request = save(request, {"resolution_state": SlaState.BREACHED})
    request.priority = "urgent"
    request = save(request, {"priority": "urgent", **sla.retarget(request)})
    assert request.resolution_due == MONDAY + timedelta(hours=11)
    assert request.resolution_state == SlaState.BREACHED


def test_retarget_after_a_priority_or_tier_change(policy):
    request = make_request(policy, MONDAY + timedelta(hours=9))
    request.priority = "urgent"
    changes = sla.retarget(request, MONDAY + timedelta(hours=9, minutes=5))
    assert changes["resolution_due"] == MONDAY + timedelta(hours=11)
    assert changes["first_response_due"] == MONDAY + timedelta(hours=9, minutes=15)
    request.tier = Tier.ENGINEERING
    changes = sla.retarget(request, MONDAY + timedelta(hours=9, minutes=5))
    assert changes["resolution_due"] == MONDAY + timedelta(hours=13)
    request.priority = "low"  # no target for low: the clocks stop counting
    changes = sla.retarget(request, MONDAY + timedelta(hours=9, minutes=5))
    assert changes["resolution_due"] is None
    assert changes["resolution_state"] == SlaState.NONE


def test_retarget_brings_an_at_risk_clock_back_on_track(policy):
    request = make_request(policy, MONDAY + timedelta(hours=9), priority="urgent")
    request = save(request, {"resolution_state": SlaState.AT_RISK})
    request.priority = "normal"
    changes = sla.retarget(request, MONDAY + timedelta(hours=10, minutes=50))
    assert changes["resolution_state"] == SlaState.OK


# -- the page's clock ------------------------------------------------------------------------------------------


def test_clock_for_the_page(policy, django_assert_max_num_queries):
    request = make_request(policy, MONDAY + timedelta(hours=9))
    request = Request.objects.select_related("sla_policy__calendar").get(pk=request.pk)
    with django_assert_max_num_queries(2):
        shown = sla.clock(request, MONDAY + timedelta(hours=9, minutes=54))
    first, resolution = shown["targets"]
    assert first["name"] == "first_response"
    assert first["seconds_left"] == 6 * 60
    assert first["percent"] == 90.0
    assert first["state"] == SlaState.AT_RISK
    assert first["left_text"] == "6m"
    assert resolution["seconds_left"] == 8 * H - 54 * 60
    assert resolution["state"] == SlaState.OK
    later = sla.clock(request, MONDAY + timedelta(hours=18, minutes=30))
    assert later["targets"][1]["seconds_left"] == -90 * 60
    assert later["targets"][1]["overdue"] is True
    assert later["targets"][1]["state"] == SlaState.BREACHED


def test_clock_while_paused_stands_still(policy):
    request = make_request(policy, MONDAY + timedelta(hours=9))
    request = save(request, sla.pause(request, MONDAY + timedelta(hours=9, minutes=30)))
    shown = sla.clock(request, MONDAY + timedelta(days=1))
    assert shown["paused"] is True
    assert shown["targets"][0]["seconds_left"] == 30 * 60
    assert shown["targets"][0]["paused"] is True
    assert shown["targets"][0]["state"] == SlaState.OK


def test_clock_without_a_policy():
    request = RequestFactory()
    assert sla.clock(request, MONDAY)["targets"] == []


def test_format_duration():
    assert sla.format_duration(59) == "0m"
    assert sla.format_duration(-3 * H - 5 * 60) == "3h 05m"
    assert sla.format_duration(2 * 86400 + H) == "2d 1h 00m"


# -- the scheduled job -----------------------------------------------------------------------------------------


def run_job(now: datetime) -> dict:
    with context.change_context(source=Source.JOB, actor_label="job:check_slas"):
        return sla.check_slas(now)


def test_the_job_flags_at_risk_then_breached_and_notifies_once_per_state(policy, events):
    queue = QueueFactory(tier=Tier.ENGINEERING)
    request = make_request(policy, MONDAY + timedelta(hours=9), queue=queue, tier=Tier.ENGINEERING)
    assert run_job(MONDAY + timedelta(hours=9, minutes=47)) == {"at_risk": 0, "breached": 0, "escalated": 0}
    assert run_job(MONDAY + timedelta(hours=9, minutes=48))["at_risk"] == 1
    request.refresh_from_db()
    assert request.first_response_state == SlaState.AT_RISK
    assert events == [(request.pk, "sla_at_risk")]
    assert run_job(MONDAY + timedelta(hours=9, minutes=49))["at_risk"] == 0  # once
    run_job(MONDAY + timedelta(hours=10))
    request.refresh_from_db()
    assert request.first_response_state == SlaState.BREACHED
    assert request.sla_notified == {"first_response": "breached"}
    assert events == [(request.pk, "sla_at_risk"), (request.pk, "sla_breached")]
    run_job(MONDAY + timedelta(hours=10, minutes=1))
    assert len(events) == 2
    assert request.tier == Tier.ENGINEERING  # already tier 3: no escalation
    assert not Escalation.objects.exists()
    flagged = AuditEvent.objects.filter(object_id=str(request.pk), source=Source.JOB)
    assert [e.changes for e in flagged.order_by("id")] == [
        {"first_response_state": ["ok", "at_risk"]},
        {"first_response_state": ["at_risk", "breached"]},
    ]


def test_a_clock_past_both_lines_is_only_breached(policy, events):
    request = make_request(policy, MONDAY + timedelta(hours=9))
    run_job(MONDAY + timedelta(hours=12))
    request.refresh_from_db()
    assert request.first_response_state == SlaState.BREACHED
    assert events.count((request.pk, "sla_breached")) == 1
    assert (request.pk, "sla_at_risk") not in events


def test_a_breached_tier_2_request_is_escalated_to_the_owner_team(policy, events):
    team = TeamFactory()
    system = SystemFactory(owner_team=team)
    helpdesk = QueueFactory(tier=Tier.HELPDESK)
    request = make_request(
        policy, MONDAY + timedelta(hours=9), queue=helpdesk, system=system, priority="urgent"
    )
    counts = run_job(MONDAY + timedelta(hours=9, minutes=20))
    assert counts == {"at_risk": 0, "breached": 1, "escalated": 1}
    request.refresh_from_db()
    assert request.tier == Tier.ENGINEERING
    assert request.queue.team == team
    escalation = Escalation.objects.get(request=request)
    assert escalation.kind == Escalation.Kind.SLA
    assert (escalation.from_tier, escalation.to_tier) == (Tier.HELPDESK, Tier.ENGINEERING)
    assert escalation.from_queue == helpdesk and escalation.by is None
    assert "first response" in escalation.reason
    # Retargeted to the tier-3 target: resolution 4h.
    assert request.resolution_due == MONDAY + timedelta(hours=13)
    assert (request.pk, "sla_breached") in events and (request.pk, "escalated") in events
    assert AuditEvent.objects.filter(object_type__icontains="escalation", source=Source.JOB).count() == 1


def test_a_request_without_an_owner_team_is_escalated_in_place(policy, events):
    helpdesk = QueueFactory(tier=Tier.HELPDESK)
    request = make_request(policy, MONDAY + timedelta(hours=9), queue=helpdesk)
    run_job(MONDAY + timedelta(hours=11))
    request.refresh_from_db()
    assert request.tier == Tier.ENGINEERING and request.queue == helpdesk
    assert Escalation.objects.get(request=request).to_queue == helpdesk


def test_nothing_is_flagged_or_sent_outside_the_calendars_hours(events):
    calendar = BusinessCalendarFactory(time_zone="America/New_York", weekly_hours=NINE_TO_FIVE)
    policy = SlaPolicyFactory(calendar=calendar)
    SlaTargetFactory(policy=policy, priority="normal", first_response_minutes=60, resolution_minutes=480)
    queue = QueueFactory(tier=Tier.ENGINEERING)
    # Filed Monday 16:30 New York (21:30 UTC): first response due at 09:30 on Tuesday.
    request = make_request(
        policy, MONDAY + timedelta(hours=21, minutes=30), queue=queue, tier=Tier.ENGINEERING
    )
    assert request.first_response_due == MONDAY + timedelta(days=1, hours=14, minutes=30)
    # 17:00 New York: the warning line (48 minutes) passed at 16:30 + 30m + 18m on Tuesday, not yet.
    assert run_job(MONDAY + timedelta(hours=22, minutes=30))["at_risk"] == 0
    # Tuesday 09:00 New York is 14:00 UTC: 30 + 0 minutes used; at 09:18 the clock is at 80%.
    assert run_job(MONDAY + timedelta(days=1, hours=14, minutes=17))["at_risk"] == 0
    assert run_job(MONDAY + timedelta(days=1, hours=14, minutes=18))["at_risk"] == 1
    assert events == [(request.pk, "sla_at_risk")]


def test_a_line_crossed_at_closing_time_is_announced_at_the_next_opening(events):
    calendar = BusinessCalendarFactory(time_zone="UTC", weekly_hours=NINE_TO_FIVE)
    Holiday.objects.create(calendar=calendar, date=date(2026, 12, 1), name="A holiday")
    policy = SlaPolicyFactory(calendar=calendar)
    SlaTargetFactory(policy=policy, priority="normal", first_response_minutes=60, resolution_minutes=480)
    queue = QueueFactory(tier=Tier.ENGINEERING)
    request = make_request(policy, MONDAY + timedelta(hours=9), queue=queue, tier=Tier.ENGINEERING)
    request = save(request, sla.record_first_response(request, MONDAY + timedelta(hours=9, minutes=5)))
    assert request.resolution_due == MONDAY + timedelta(hours=17)
    for now in (
        MONDAY + timedelta(hours=17),
        MONDAY + timedelta(hours=23),
        MONDAY + timedelta(days=1, hours=12),
    ):
        assert run_job(now) == {"at_risk": 0, "breached": 0, "escalated": 0}  # closed; Tuesday is a holiday
    assert events == []
    assert run_job(MONDAY + timedelta(days=2, hours=9))["breached"] == 1
    assert events == [(request.pk, "sla_breached")]


def test_paused_and_finished_requests_never_flag(policy, events):
    queue = QueueFactory(tier=Tier.ENGINEERING)
    paused = make_request(policy, MONDAY + timedelta(hours=9), queue=queue, tier=Tier.ENGINEERING)
    save(
        paused,
        {"status": Status.WAITING_ON_REQUESTER, **sla.pause(paused, MONDAY + timedelta(hours=9, minutes=1))},
    )
    resolved = make_request(policy, MONDAY + timedelta(hours=9), queue=queue, tier=Tier.ENGINEERING)
    save(
        resolved,
        {
            "status": Status.RESOLVED,
            **sla.record_resolution(resolved, MONDAY + timedelta(hours=9, minutes=2)),
        },
    )
    assert run_job(MONDAY + timedelta(days=3)) == {"at_risk": 0, "breached": 0, "escalated": 0}
    assert events == []


def test_the_job_reads_only_the_requests_that_cross_a_line(policy, events):
    queue = QueueFactory(tier=Tier.ENGINEERING)
    for _ in range(5):
        make_request(policy, MONDAY + timedelta(hours=9), queue=queue, tier=Tier.ENGINEERING)
    with CaptureQueriesContext(connection) as idle:
        run_job(MONDAY + timedelta(hours=9, minutes=1))
    # policies, holidays, then per clock: the breached range and the at-risk range.
    assert len(idle) == 6
    for query in idle.captured_queries[2:]:
        sql = query["sql"]
        assert ("_due" in sql or "_warn_at" in sql) and "_state" in sql


def test_the_scheduled_task_runs_as_a_job(policy, events):
    from gatehouse.desk.tasks import check_slas

    queue = QueueFactory(tier=Tier.ENGINEERING)
    now = datetime.now(UTC)
    request = make_request(policy, now - timedelta(days=30), queue=queue, tier=Tier.ENGINEERING)
    check_slas.call_local()
    request.refresh_from_db()
    if sla.clock_for(policy.calendar).is_open(now):
        assert request.resolution_state == SlaState.BREACHED
        event = AuditEvent.objects.filter(object_id=str(request.pk)).latest("id")
        assert event.source == Source.JOB and event.actor_label == "job:check_slas"
    else:  # a weekend: nothing happens, by design
        assert request.resolution_state == SlaState.OK
