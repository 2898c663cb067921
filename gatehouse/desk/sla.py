"""The SLA clock of a request: first-response and resolution targets counted in business time.

How the clock is kept (see docs/decisions/0003-business-time.md):

- The clock starts when the request is filed (``request.created``). Each target's due time and warning time are
  stored as wall-clock instants: ``due = add(start, target + paused)`` and ``warn_at = add(start, target *
  at_risk_percent / 100 + paused)``, where ``add`` is the calendar's business-time addition and ``paused`` is
  ``request.paused_seconds``, the business seconds spent waiting on the requester (or resolved, before a
  reopen). The scheduled job therefore finds what to flag with indexed comparisons (``*_warn_at <= now``).
- While the request waits on the requester ``paused_at`` is set and the stored due times are left alone (the
  job skips paused requests). ``resume`` adds the business time of the pause to ``paused_seconds`` and moves
  the due times of the clocks still running.
- A target with the request's tier wins over the policy's target for the priority without a tier.
- States: ``ok`` while running, ``at_risk`` and ``breached`` are set by the job only (it notifies and escalates
  as it does), ``met`` or ``breached`` when the clock stops. A breach is a fact and is never undone, not even by
  a retarget to a longer target.

**Interface for the services (part A).** ``start_clock``, ``pause``, ``resume``, ``record_first_response``,
``record_resolution``, ``reopen`` and ``retarget`` do not modify the request and do not save. Each returns a
dict ``{field name: new value}`` of the fields that change (empty when nothing does); the caller merges it into
the ``fields`` of its own ``create_object``/``update_object`` call, so the SLA change is saved and audited in
the same event as the status or priority change that caused it::

    fields = {"status": Status.WAITING_ON_REQUESTER, **sla.pause(request, now)}
    update_object(request, fields=fields)

(Mutating in memory and then calling ``update_object`` would not work: ``update_object`` diffs against the
object's current values, so it would see no change.) They read the policy, its target and the calendar's
holidays from the database. ``apply_changes(request, changes)`` is there for callers that have nothing else to
write.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from gatehouse.core.services import update_object
from gatehouse.desk.business_time import BusinessClock
from gatehouse.desk.models import (
    OPEN_STATUSES,
    BusinessCalendar,
    Escalation,
    Request,
    SlaPolicy,
    SlaState,
    SlaTarget,
    Tier,
)

log = logging.getLogger(__name__)

CLOCKS = ("first_response", "resolution")
LABELS = {"first_response": "First response", "resolution": "Resolution"}
DEFAULT_POLICY_SLUG = "default"
RUNNING_STATES = (SlaState.OK, SlaState.AT_RISK)


# -- lookups ---------------------------------------------------------------------------------------------------


def policy_for(request: Request) -> SlaPolicy | None:
    """The request type's policy, else the policy with slug "default", else none."""
    policy_id = request.request_type.sla_policy_id if request.request_type_id else None
    query = SlaPolicy.objects.select_related("calendar")
    if policy_id:
        return query.filter(pk=policy_id).first()
    return query.filter(slug=DEFAULT_POLICY_SLUG).first()


def select_target(policy: SlaPolicy | None, priority: str, tier: int | None) -> SlaTarget | None:
    """The policy's target for a priority; one for the given tier wins over the one without a tier."""
    if policy is None:
        return None
    candidates = list(policy.targets.filter(Q(tier=tier) | Q(tier__isnull=True), priority=priority))
    for target in candidates:
        if tier is not None and target.tier == tier:
            return target
    return next((t for t in candidates if t.tier is None), None)


def clock_for(calendar: BusinessCalendar) -> BusinessClock:
    """A BusinessClock for the calendar, with its holidays (one query)."""
    return BusinessClock.for_calendar(calendar)


def _target_seconds(target: SlaTarget, name: str) -> int:
    return int(getattr(target, f"{name}_minutes")) * 60


def _running(request: Request, name: str) -> bool:
    stopped = request.first_responded_at if name == "first_response" else request.resolved_at
    return stopped is None


def _start(request: Request, at: datetime | None = None) -> datetime:
    return request.created or at or timezone.now()


def _diff(request: Request, new: Request, names) -> dict[str, Any]:
    return {n: getattr(new, n) for n in names if getattr(new, n) != getattr(request, n)}


ALL_FIELDS = (
    "sla_policy",
    "first_response_due",
    "first_response_warn_at",
    "first_responded_at",
    "first_response_state",
    "resolution_due",
    "resolution_warn_at",
    "resolution_state",
    "paused_at",
    "paused_seconds",
    "resolved_at",
)


def _set_dues(work: Request, *, policy, target, clock: BusinessClock | None, start: datetime, names) -> None:
    """Recompute due and warning instants of the named clocks from the start and the paused time."""
    for name in names:
        if target is None or clock is None:
            setattr(work, f"{name}_due", None)
            setattr(work, f"{name}_warn_at", None)
            setattr(work, f"{name}_state", SlaState.NONE)
            continue
        seconds = _target_seconds(target, name)
        paused = work.paused_seconds or 0
        setattr(work, f"{name}_due", clock.add(start, seconds + paused))
        setattr(work, f"{name}_warn_at", clock.add(start, seconds * policy.at_risk_percent / 100 + paused))
        if getattr(work, f"{name}_state") == SlaState.NONE:
            setattr(work, f"{name}_state", SlaState.OK)


def _state_after_move(work: Request, names, at: datetime) -> None:
    """After due times moved later: an at-risk clock whose new warning time is still ahead is on track again.
    (Flagging at risk or breached is the job's, which notifies as it does.)"""
    for name in names:
        warn = getattr(work, f"{name}_warn_at")
        if getattr(work, f"{name}_state") == SlaState.AT_RISK and warn is not None and at < warn:
            setattr(work, f"{name}_state", SlaState.OK)


# -- the services' hooks ---------------------------------------------------------------------------------------


def start_clock(request: Request, at: datetime | None = None) -> dict[str, Any]:
    """Start both clocks of a new request (its type's policy, its priority and tier). ``at`` is the start when
    the request is not saved yet (later recomputations use ``request.created``)."""
    work = copy.copy(request)
    policy = policy_for(request)
    target = select_target(policy, request.priority, request.tier)
    work.sla_policy = policy
    work.paused_at, work.paused_seconds = None, 0
    work.first_response_state = work.resolution_state = SlaState.NONE
    clock = clock_for(policy.calendar) if target is not None else None
    _set_dues(work, policy=policy, target=target, clock=clock, start=_start(request, at), names=CLOCKS)
    return _diff(request, work, ALL_FIELDS)


def pause(request: Request, at: datetime) -> dict[str, Any]:
    """Waiting on the requester: the clocks stop until ``resume``."""
    if request.paused_at is not None or not any(_running(request, n) for n in CLOCKS):
        return {}
    return {"paused_at": at}


def _resume(work: Request, at: datetime, extra_since: datetime | None = None) -> None:
    """Add the business time since ``paused_at`` (or ``extra_since``) to paused_seconds and move the dues."""
    since = work.paused_at or extra_since
    work.paused_at = None
    policy = work.sla_policy
    if since is None or policy is None:
        return
    clock = clock_for(policy.calendar)
    work.paused_seconds = (work.paused_seconds or 0) + round(clock.elapsed(since, at))
    names = [n for n in CLOCKS if _running(work, n) and getattr(work, f"{n}_due") is not None]
    target = select_target(policy, work.priority, work.tier)
    if target is None:
        return
    _set_dues(work, policy=policy, target=target, clock=clock, start=_start(work, at), names=names)
    _state_after_move(work, names, at)


def resume(request: Request, at: datetime) -> dict[str, Any]:
    """The requester replied (or the status left "waiting on requester"): the clocks run again, later."""
    if request.paused_at is None:
        return {}
    work = copy.copy(request)
    _resume(work, at)
    return _diff(request, work, ALL_FIELDS)


def _stop_state(work: Request, name: str, at: datetime) -> str:
    state = getattr(work, f"{name}_state")
    due = getattr(work, f"{name}_due")
    if state == SlaState.NONE or due is None:
        return SlaState.NONE
    if state == SlaState.BREACHED:
        return SlaState.BREACHED
    # While paused the clock stood still at paused_at, and the stored due does not include this pause yet.
    effective = work.paused_at if work.paused_at is not None and work.paused_at < at else at
    return SlaState.MET if effective <= due else SlaState.BREACHED


def record_first_response(request: Request, at: datetime) -> dict[str, Any]:
    """An agent's first public reply: the first-response clock stops, met or breached."""
    if request.first_responded_at is not None:
        return {}
    work = copy.copy(request)
    work.first_response_state = _stop_state(work, "first_response", at)
    work.first_responded_at = at
    return _diff(request, work, ALL_FIELDS)


def record_resolution(request: Request, at: datetime) -> dict[str, Any]:
    """Resolved (or closed without being resolved): the resolution clock stops, met or breached. A pause ends
    here. A request resolved before anyone replied counts the resolution as its first response."""
    if request.resolved_at is not None:
        return {}
    work = copy.copy(request)
    if work.paused_at is not None:
        _resume(work, at)
    if work.first_responded_at is None:
        work.first_response_state = _stop_state(work, "first_response", at)
        work.first_responded_at = at
    work.resolution_state = _stop_state(work, "resolution", at)
    work.resolved_at = at
    return _diff(request, work, ALL_FIELDS)


def reopen(request: Request, at: datetime) -> dict[str, Any]:
    """A resolved request reopened: the resolution clock runs again; the time it spent resolved counts as
    paused. A met clock is on track again (the job flags it if it is late); a breach stays a breach."""
    if request.resolved_at is None:
        return {}
    work = copy.copy(request)
    resolved_at = work.resolved_at
    work.resolved_at = None
    if work.resolution_state == SlaState.MET:
        work.resolution_state = SlaState.OK
    _resume(work, at, extra_since=resolved_at)
    return _diff(request, work, ALL_FIELDS)


def retarget(request: Request, at: datetime | None = None) -> dict[str, Any]:
    """After a change of priority, tier or type: pick the policy and target again and recompute the running
    clocks' due times (from the filing time and the paused time so far)."""
    at = at or timezone.now()
    work = copy.copy(request)
    policy = policy_for(request)
    target = select_target(policy, request.priority, request.tier)
    work.sla_policy = policy
    names = [n for n in CLOCKS if _running(work, n)]
    clock = clock_for(policy.calendar) if target is not None else None
    _set_dues(work, policy=policy, target=target, clock=clock, start=_start(request, at), names=names)
    _state_after_move(work, names, at)
    return _diff(request, work, ALL_FIELDS)


def apply_changes(request: Request, changes: dict[str, Any]) -> Request:
    """Save and audit a hook's changes on their own (for callers with nothing else to write)."""
    if changes:
        update_object(request, fields=changes)
    return request


# -- the page's view of the clock ------------------------------------------------------------------------------


def format_duration(seconds: float) -> str:
    """Business time as "2d 3h 05m" (a business day here is 24 hours of open time)."""
    seconds = int(abs(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m"


def clock(request: Request, now: datetime | None = None) -> dict[str, Any]:
    """The SLA clock for the request page: per target the due time, business time left (negative: overdue),
    percent used, state and whether it is paused. Two or three queries (policy, target, holidays)."""
    now = now or timezone.now()
    policy = request.sla_policy
    result: dict[str, Any] = {
        "policy": policy,
        "paused": request.paused_at is not None,
        "paused_at": request.paused_at,
        "targets": [],
    }
    if policy is None:
        return result
    target = select_target(policy, request.priority, request.tier)
    business = clock_for(policy.calendar)
    result["calendar"] = policy.calendar
    result["open_now"] = business.is_open(now)
    for name in CLOCKS:
        due = getattr(request, f"{name}_due")
        state = getattr(request, f"{name}_state")
        if due is None or target is None or state == SlaState.NONE:
            continue
        stopped_at = request.first_responded_at if name == "first_response" else request.resolved_at
        paused = stopped_at is None and request.paused_at is not None
        ref = stopped_at or (request.paused_at if paused else now)
        left = business.elapsed(ref, due) if ref < due else -business.elapsed(due, ref)
        total = _target_seconds(target, name)
        used = max(0.0, total - left)
        percent = round(100 * used / total, 1) if total else 100.0
        if state in RUNNING_STATES and not paused:
            if left <= 0:
                state = SlaState.BREACHED
            elif percent >= policy.at_risk_percent:
                state = SlaState.AT_RISK
        result["targets"].append(
            {
                "name": name,
                "label": LABELS[name],
                "due": due,
                "stopped_at": stopped_at,
                "state": state,
                "state_label": SlaState(state).label,
                "paused": paused,
                "target_seconds": total,
                "seconds_left": int(left),
                "overdue": left < 0,
                "left_text": format_duration(left),
                "percent": percent,
            }
        )
    return result


# -- the scheduled job -----------------------------------------------------------------------------------------


def _notify(request: Request, event: str) -> None:
    from gatehouse.desk import notifications  # part A's module; imported late to keep imports one-way

    notifications.request_event(request, event)


def _escalate(request: Request, reason: str) -> None:
    """Tier 3 for a breached tier-2 request: the system owner team's queue, else the queue it is in. Done by
    the services' own move (assignee kept only if they work the new queue, auto-assignment, retarget, the
    "escalated" notification), recorded as an Escalation of kind "sla" by no one."""
    from gatehouse.core.permissions import SYSTEM
    from gatehouse.desk import services

    system = request.system
    if system is not None and system.owner_team_id is not None:
        queue = services.queue_for_team(system.owner_team)
    else:
        queue = request.queue
    services._move(
        request,
        actor=SYSTEM,
        queue=queue,
        tier=Tier.ENGINEERING,
        reason=reason,
        kind=Escalation.Kind.SLA,
        event="escalated",
    )


def open_policy_ids(now: datetime) -> list[int]:
    """The policies whose calendar is open now (two queries: policies and calendars, holidays near now)."""
    policies = list(SlaPolicy.objects.select_related("calendar"))
    calendars = {p.calendar_id: p.calendar for p in policies}
    near = (now - timedelta(days=2)).date(), (now + timedelta(days=2)).date()
    holidays: dict[int, list] = {}
    from gatehouse.desk.models import Holiday

    for cal_id, day in Holiday.objects.filter(calendar_id__in=calendars, date__range=near).values_list(
        "calendar_id", "date"
    ):
        holidays.setdefault(cal_id, []).append(day)
    is_open = {
        cal_id: BusinessClock(cal.time_zone, cal.weekly_hours, holidays.get(cal_id, ())).is_open(now)
        for cal_id, cal in calendars.items()
    }
    return [p.pk for p in policies if is_open[p.calendar_id]]


def check_slas(now: datetime | None = None) -> dict[str, int]:
    """Flag running clocks at risk (warning time passed) or breached (due time passed), notify once per state,
    and escalate a breached tier-2 request to tier 3. Only for policies whose calendar is open now: outside
    the calendar's hours nothing is flagged or sent, and the first run inside hours catches up (no business
    time passes in between, so no flag comes late in business time). Paused requests never flag.

    Each query is a range on an indexed (state, time) pair, so only the requests that cross a line are read.
    """
    now = now or timezone.now()
    counts = {"at_risk": 0, "breached": 0, "escalated": 0}
    policy_ids = open_policy_ids(now)
    if not policy_ids:
        return counts
    base = Request.objects.filter(
        sla_policy_id__in=policy_ids, paused_at__isnull=True, status__in=OPEN_STATUSES
    ).select_related("system", "queue", "request_type", "sla_policy__calendar")
    pending: dict[int, dict[str, str]] = {}
    found: dict[int, Request] = {}
    for name in CLOCKS:
        stop_field = "first_responded_at" if name == "first_response" else "resolved_at"
        breached = base.filter(
            **{f"{name}_state__in": RUNNING_STATES, f"{name}_due__lte": now, f"{stop_field}__isnull": True}
        )
        at_risk = base.filter(
            **{f"{name}_state": SlaState.OK, f"{name}_warn_at__lte": now, f"{stop_field}__isnull": True}
        ).exclude(**{f"{name}_due__lte": now})
        for state, query in ((SlaState.BREACHED, breached), (SlaState.AT_RISK, at_risk)):
            for request in query.order_by("pk")[:1000]:
                found.setdefault(request.pk, request)
                pending.setdefault(request.pk, {})[name] = state
    for pk, states in pending.items():
        request = found[pk]
        try:
            _flag(request, states, now, counts)
        except Exception:  # one bad row must not stop the others; it is retried on the next run
            log.exception("SLA check failed for request %s", pk)
    return counts


def _flag(request: Request, states: dict[str, str], now: datetime, counts: dict[str, int]) -> None:
    with transaction.atomic():
        fields = {f"{name}_state": state for name, state in states.items()}
        update_object(request, fields=fields)
        notified = dict(request.sla_notified or {})
        events = []
        for name, state in states.items():
            counts[state] += 1
            if notified.get(name) == state or (
                state == SlaState.AT_RISK and notified.get(name) == "breached"
            ):
                continue
            notified[name] = state
            events.append(f"sla_{state}")
        # sla_notified is bookkeeping left out of the audit trail on purpose (see the model).
        Request.objects.filter(pk=request.pk).update(sla_notified=notified)
        request.sla_notified = notified
        for event in dict.fromkeys(sorted(events, key=lambda e: e != "sla_breached")):
            _notify(request, event)
        if SlaState.BREACHED in states.values() and request.tier == Tier.HELPDESK:
            breached = ", ".join(LABELS[n].lower() for n, s in states.items() if s == SlaState.BREACHED)
            _escalate(request, f"SLA breached ({breached} target) at tier 2.")
            counts["escalated"] += 1
