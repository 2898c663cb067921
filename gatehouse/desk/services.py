"""Writes to the desk's requests. Each is one transaction with its audit events inside; side effects (mail,
chat) are queued for after the commit by desk.notifications.

Permissions are checked here (desk.selectors explains who sees and who works what). Bad input raises
ValidationError keyed by field (``fields.<name>`` for the answers to the type's form) before anything is
written, and every service runs in one transaction, so nothing partial is ever saved.
"""

from __future__ import annotations

import copy
import hashlib
import os
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.files.uploadedfile import UploadedFile
from django.db import transaction
from django.utils import timezone
from django.utils.text import get_valid_filename, slugify

from gatehouse.catalog.models import System
from gatehouse.core.permissions import SYSTEM, require
from gatehouse.core.services import create_object, update_object
from gatehouse.core.validators import clean_text
from gatehouse.desk import notifications, selectors
from gatehouse.desk.forms_schema import clean_answers
from gatehouse.desk.models import (
    OPEN_STATUSES,
    Attachment,
    Channel,
    Comment,
    Escalation,
    Priority,
    Queue,
    Request,
    RequestType,
    Status,
    Tier,
)
from gatehouse.desk.routing import request_context, route
from gatehouse.directory.models import Person, Team

MAX_LABELS = 30
UNSET: Any = object()


# ---------------------------------------------------------------------------------------------- helpers


def _now():
    return timezone.now()


def _sla():
    from gatehouse.desk import sla

    return sla


def _sla_changes(request: Request, steps) -> dict[str, Any]:
    """Run SLA hooks (desk.sla: they return the fields that change, and save nothing) one after the other on a
    working copy, and return all the changes to merge into the caller's own audited write."""
    work = copy.copy(request)
    changes: dict[str, Any] = {}
    for step in steps:
        found = step(work)
        for name, value in found.items():
            setattr(work, name, value)
        changes.update(found)
    return changes


def _with(request: Request, fields: dict[str, Any]) -> Request:
    """A copy of the request with some fields changed, for the SLA hooks to read."""
    work = copy.copy(request)
    for name, value in fields.items():
        setattr(work, name, value)
    return work


def _is_system(actor) -> bool:
    return actor is SYSTEM


def _person_of(actor) -> Person | None:
    if _is_system(actor) or actor is None:
        return None
    return getattr(actor, "person", None)


def _require_see(actor, request: Request) -> None:
    if _is_system(actor):
        return
    require(actor, "desk.view_request", request)


def _require_work(actor, request: Request) -> None:
    if _is_system(actor):
        return
    _require_see(actor, request)
    if not selectors.can_work(actor, request):
        raise PermissionDenied(
            "You do not work this request: only its queue's agents, its system's owners, "
            "its assignee and admins may change it."
        )


def resolve_request_type(value: RequestType | str) -> RequestType:
    if isinstance(value, RequestType):
        request_type = value
    else:
        if not isinstance(value, str) or not value.strip():
            raise ValidationError({"request_type": "Choose a request type."})
        request_type = (
            RequestType.objects.select_related("sla_policy", "default_queue").filter(slug=value).first()
        )
        if request_type is None:
            known = ", ".join(RequestType.objects.filter(is_active=True).values_list("slug", flat=True))
            raise ValidationError({"request_type": f"No request type {value!r}. Known types: {known}."})
    if not request_type.is_active:
        raise ValidationError(
            {"request_type": f"The request type {request_type.slug!r} is no longer offered."}
        )
    return request_type


def resolve_system(value: System | str | None) -> System | None:
    if value is None or value == "":
        return None
    if isinstance(value, System):
        return value
    if not isinstance(value, str):
        raise ValidationError({"system": "Give a system's slug."})
    system = System.objects.select_related("owner_team").filter(slug=value).first()
    if system is None:
        raise ValidationError(
            {"system": f"No system {value!r} in the catalog (give its slug, e.g. okta-sso)."}
        )
    return system


def _priority(value: Any, name: str = "priority") -> str:
    if value not in Priority.values:
        raise ValidationError({name: f"Choose one of: {', '.join(Priority.values)}."})
    return value


def _labels(value: Any) -> list[str]:
    if not isinstance(value, list | tuple):
        raise ValidationError({"labels": "Must be a list of labels."})
    labels: list[str] = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or len(item) > 100 or "\x00" in item:
            raise ValidationError({"labels": "Each label is non-empty text of at most 100 characters."})
        if item.strip() not in labels:
            labels.append(item.strip())
    if len(labels) > MAX_LABELS:
        raise ValidationError({"labels": f"At most {MAX_LABELS} labels."})
    return labels


def _next_agent(queue: Queue):
    """Round robin: the agent after the queue's last assignee (by id), wrapping round."""
    agents = list(selectors.queue_agents(queue))
    if not agents:
        return None
    if queue.last_assignee_id is None:
        return agents[0]
    for agent in agents:
        if agent.pk > queue.last_assignee_id:
            return agent
    return agents[0]


def _auto_assign(queue: Queue):
    if not queue.round_robin:
        return None
    # Lock the queue row so two requests filed at once do not pick the same agent (PostgreSQL; SQLite
    # serialises writers anyway).
    queue = Queue.objects.select_for_update().get(pk=queue.pk)
    agent = _next_agent(queue)
    if agent is not None:
        # last_assignee is bookkeeping (audit_exclude), not a change anyone made.
        Queue.objects.filter(pk=queue.pk).update(last_assignee=agent)
    return agent


# ---------------------------------------------------------------------------------------------- queues


def queue_for_team(team: Team) -> Queue:
    """The team's queue, created (audited, tier 3) the first time a request needs it."""
    queue = Queue.objects.filter(team=team).order_by("-is_triage", "id").first()
    if queue is not None:
        return queue
    base = slugify(team.slug)[:90] or f"team-{team.pk}"
    slug, name, n = base, team.name[:200], 1
    while Queue.objects.filter(slug=slug).exists() or Queue.objects.filter(name=name).exists():
        n += 1
        slug, name = f"{base}-{n}", f"{team.name[:190]} ({n})"
    return create_object(
        Queue,
        fields={"slug": slug, "name": name, "team": team, "tier": Tier.ENGINEERING, "round_robin": False},
    )


# ---------------------------------------------------------------------------------------------- filing


def file_request(
    *,
    actor,
    request_type: RequestType | str,
    subject: str,
    description: str = "",
    fields: dict | None = None,
    system: System | str | None = None,
    requester: Person | None = None,
    channel: str = Channel.WEB,
    priority: str | None = None,
    watchers: Iterable[Person] = (),
    attachments: Iterable[UploadedFile] = (),
) -> Request:
    """File a request: validate, route, start the SLA clock, auto-assign, notify (after the commit)."""
    if not _is_system(actor):
        require(actor, "desk.add_request")
    errors: dict[str, Any] = {}

    def collect(func, *args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ValidationError as exc:
            errors.update(exc.error_dict if hasattr(exc, "error_dict") else {"__all__": exc.error_list})
            return None

    request_type = collect(resolve_request_type, request_type)
    system = collect(resolve_system, system)
    subject = collect(clean_text, subject, "subject", max_length=250, required=True)
    description = collect(clean_text, description, "description", max_length=50_000)
    if channel not in Channel.values:
        errors["channel"] = f"Choose one of: {', '.join(Channel.values)}."
    if priority is not None:
        collect(_priority, priority)
    if request_type is not None:
        answers = collect(clean_answers, request_type.form_schema or [], fields)
        if (
            request_type.system_field == RequestType.SystemField.REQUIRED
            and system is None
            and "system" not in errors
        ):
            errors["system"] = f"A {request_type.name} request must name the system it is about."
        if request_type.system_field == RequestType.SystemField.HIDDEN and system is not None:
            errors["system"] = f"A {request_type.name} request is not about a system."
    else:
        answers = None
    # Who it is for: the actor's own person, unless an agent (or Gatehouse itself) files on someone's behalf.
    if requester is None:
        requester = _person_of(actor)
        if requester is None:
            errors["requester"] = "Name the person the request is for (this sign-in has no person)."
    elif not isinstance(requester, Person):
        errors["requester"] = "Must be a person."
    elif (
        not _is_system(actor)
        and requester.pk != getattr(actor, "person_id", None)
        and not selectors.is_agent(actor)
    ):
        raise PermissionDenied("Only agents may file a request on someone else's behalf.")
    watchers = list(dict.fromkeys(watchers))
    if any(not isinstance(w, Person) for w in watchers):
        errors["watchers"] = "Each watcher must be a person."
    if errors:
        raise ValidationError(errors)

    attachments = list(attachments)
    for upload in attachments:
        check_upload(upload)

    with transaction.atomic():
        context = request_context(
            request_type=request_type,
            system=system,
            requester=requester,
            fields=answers,
            priority=priority or request_type.default_priority,
            channel=channel,
            subject=subject,
        )
        decision = route(request_type=request_type, system=system, context=context)
        queue = decision.queue
        assignee = decision.assignee or _auto_assign(queue)
        now = _now()
        values = {
            "request_type": request_type,
            "subject": subject,
            "description": description,
            "fields": answers,
            "system": system,
            "requester": requester,
            "filed_by": None if _is_system(actor) else actor,
            "channel": channel,
            "queue": queue,
            "tier": queue.tier,
            "status": Status.NEW,
            "priority": priority or decision.priority or request_type.default_priority,
            "labels": decision.labels,
            "assignee": assignee,
            "routing_rule": decision.rule,
            "routing_note": decision.note,
        }
        values.update(_sla().start_clock(Request(**values), at=now))
        request = create_object(Request, fields=values, m2m={"watchers": watchers} if watchers else None)
        for upload in attachments:
            _store_attachment(request, actor=actor, upload=upload, comment=None)
        notifications.request_event(request, "created", actor=actor)
        if assignee is not None:
            notifications.request_event(request, "assigned", actor=actor)
    return request


# ---------------------------------------------------------------------------------------------- changes

REQUESTER_EDITABLE = {"subject", "description"}
UPDATABLE = {"subject", "description", "priority", "labels", "request_type"}


def update_request(request: Request, *, actor, **fields: Any) -> Request:
    """Change the subject, description, priority, labels or type. The requester may edit the subject and
    description of an open request; everything else is the agents'."""
    unknown = sorted(set(fields) - UPDATABLE)
    if unknown:
        raise ValidationError({name: "This field cannot be changed here." for name in unknown})
    _require_see(actor, request)
    works = _is_system(actor) or selectors.can_work(actor, request)
    if not works:
        if set(fields) - REQUESTER_EDITABLE or not selectors.is_requester_side(actor, request):
            raise PermissionDenied("Only the request's agents may change its priority, labels or type.")
        if not request.is_open:
            raise ValidationError({"__all__": "This request is no longer open."})
    changes: dict[str, Any] = {}
    if "subject" in fields:
        changes["subject"] = clean_text(fields["subject"], "subject", max_length=250, required=True)
    if "description" in fields:
        changes["description"] = clean_text(fields["description"], "description", max_length=50_000)
    if "priority" in fields:
        changes["priority"] = _priority(fields["priority"])
    if "labels" in fields:
        changes["labels"] = _labels(fields["labels"])
    if "request_type" in fields:
        new_type = resolve_request_type(fields["request_type"])
        if new_type.pk != request.request_type_id:
            # The answers must fit the new form.
            clean_answers(new_type.form_schema or [], request.fields)
        changes["request_type"] = new_type
    with transaction.atomic():
        retarget = ("priority" in changes and changes["priority"] != request.priority) or (
            "request_type" in changes and changes["request_type"].pk != request.request_type_id
        )
        if retarget:
            changes.update(_sla().retarget(_with(request, changes)))
        request, _ = update_object(request, fields=changes)
    return request


def assign(request: Request, *, actor, assignee) -> Request:
    """Give the request to an agent (or nobody). The assignee must be able to work it."""
    _require_work(actor, request)
    if assignee is not None:
        if not getattr(assignee, "is_active", False):
            raise ValidationError({"assignee": f"{assignee} has no active sign-in."})
        probe = Request(pk=request.pk, queue=request.queue, system=request.system, assignee=None)
        probe.queue_id, probe.system_id = request.queue_id, request.system_id
        if not selectors.can_work(assignee, probe):
            raise ValidationError(
                {
                    "assignee": f"{assignee} cannot work this request (not an agent of {request.queue} "
                    "nor an owner of its system)."
                }
            )
    with transaction.atomic():
        fields: dict[str, Any] = {"assignee": assignee}
        if assignee is not None and request.status == Status.NEW:
            fields["status"] = Status.TRIAGED
        request, written = update_object(request, fields=fields)
        if written and "assignee" in written:
            notifications.request_event(request, "assigned", actor=actor)
    return request


def set_status(request: Request, *, actor, status: str) -> Request:
    """Move the request along: waiting on the requester pauses the SLA clock, leaving it resumes; resolving
    stops the resolution clock; reopening a resolved request restarts it. The requester may resolve or close
    their own request."""
    if status not in Status.values:
        raise ValidationError({"status": f"Choose one of: {', '.join(Status.values)}."})
    _require_see(actor, request)
    requester_may = status in (Status.RESOLVED, Status.CLOSED) and selectors.is_requester_side(actor, request)
    if not (_is_system(actor) or selectors.can_work(actor, request) or requester_may):
        raise PermissionDenied("Only the request's agents may change its status.")
    old = request.status
    if status == old:
        return request
    if old == Status.CLOSED:
        raise ValidationError({"status": "A closed request stays closed; file a new one."})
    now = _now()
    fields: dict[str, Any] = {"status": status}
    if status == Status.CLOSED:
        fields["closed_at"] = now
    with transaction.atomic():
        fields.update(_sla_changes(request, _clock_steps(old, status, now)))
        if status in OPEN_STATUSES:
            fields["resolved_at"] = None
        elif fields.get("resolved_at", request.resolved_at) is None:
            fields["resolved_at"] = now
        request, _ = update_object(request, fields=fields)
        event = (
            "resolved"
            if status in (Status.RESOLVED, Status.CLOSED) and old in OPEN_STATUSES
            else "status_changed"
        )
        notifications.request_event(request, event, actor=actor, extra={"from": old, "to": status})
    return request


def _clock_steps(old: str, new: str, at) -> list:
    """The SLA hooks a status change calls, in order."""
    sla = _sla()
    if old in OPEN_STATUSES and new in (Status.RESOLVED, Status.CLOSED):
        return [lambda r: sla.record_resolution(r, at)]  # ends a pause too
    if old == Status.RESOLVED and new in OPEN_STATUSES:
        steps = [lambda r: sla.reopen(r, at)]
        if new == Status.WAITING_ON_REQUESTER:
            steps.append(lambda r: sla.pause(r, at))
        return steps
    if new == Status.WAITING_ON_REQUESTER:
        return [lambda r: sla.pause(r, at)]
    if old == Status.WAITING_ON_REQUESTER:
        return [lambda r: sla.resume(r, at)]
    return []


def reply(
    request: Request,
    *,
    actor,
    body: str,
    internal: bool = False,
    attachments: Iterable[UploadedFile] = (),
    channel: str = Channel.WEB,
) -> Comment:
    """A public reply or an internal note.

    An agent's first public reply stops the first-response clock. The requester's reply resumes a clock paused
    while waiting on them, and reopens a resolved request.
    """
    body = clean_text(body, "body", max_length=50_000, required=True)
    if channel not in Channel.values:
        raise ValidationError({"channel": f"Choose one of: {', '.join(Channel.values)}."})
    _require_see(actor, request)
    works = _is_system(actor) or selectors.can_work(actor, request)
    if internal and not works:
        raise PermissionDenied("Only the request's agents may write internal notes.")
    requester_side = not _is_system(actor) and selectors.is_requester_side(actor, request)
    if not works and not requester_side:
        raise PermissionDenied("You may not reply to this request.")
    if not internal and request.status == Status.CLOSED:
        raise ValidationError({"body": "This request is closed; file a new one."})
    attachments = list(attachments)
    for upload in attachments:
        check_upload(upload)
    person = _person_of(actor)
    from_requester = not internal and person is not None and person.pk == request.requester_id
    now = _now()
    with transaction.atomic():
        comment = create_object(
            Comment,
            fields={
                "request": request,
                "author": None if _is_system(actor) else actor,
                "author_person": person,
                "body": body,
                "is_internal": bool(internal),
                "channel": channel,
            },
        )
        for upload in attachments:
            _store_attachment(request, actor=actor, upload=upload, comment=comment)
        changes: dict[str, Any] = {}
        if not internal and works and not from_requester:
            changes.update(_sla().record_first_response(request, now))
            if request.status == Status.NEW:
                changes["status"] = Status.TRIAGED
        elif from_requester or (not internal and requester_side and not works):
            if request.status == Status.WAITING_ON_REQUESTER:
                changes = {"status": Status.IN_PROGRESS, **_sla().resume(request, now)}
            elif request.status == Status.RESOLVED:
                changes = {"status": Status.IN_PROGRESS, **_sla().reopen(request, now)}
        if changes:
            request, _ = update_object(request, fields=changes)
        notifications.request_event(request, "noted" if internal else "replied", actor=actor, comment=comment)
    return comment


def escalate(request: Request, *, actor, reason: str, queue: Queue | None = None) -> Request:
    """Move to tier 3 with a reason: by default to the system owner team's queue."""
    _require_work(actor, request)
    reason = clean_text(reason, "reason", max_length=5000, required=True)
    if not request.is_open:
        raise ValidationError({"__all__": "Only an open request can be escalated."})
    if queue is None:
        if request.system is None or request.system.owner_team_id is None:
            raise ValidationError(
                {
                    "queue": "This request is not about a system with an owner team: choose the queue to escalate to."
                }
            )
        target = queue_for_team(request.system.owner_team)
    else:
        target = queue
    if request.tier >= Tier.ENGINEERING and target.pk == request.queue_id:
        raise ValidationError({"queue": f"The request is already at tier 3 in {target}."})
    return _move(
        request,
        actor=actor,
        queue=target,
        tier=Tier.ENGINEERING,
        reason=reason,
        kind=Escalation.Kind.ESCALATE,
        event="escalated",
    )


def reroute(request: Request, *, actor, queue: Queue, reason: str) -> Request:
    """Send the request to another queue (its tier becomes the queue's), audited with the reason."""
    _require_work(actor, request)
    reason = clean_text(reason, "reason", max_length=5000, required=True)
    if not isinstance(queue, Queue):
        raise ValidationError({"queue": "Choose a queue."})
    if queue.pk == request.queue_id:
        raise ValidationError({"queue": f"The request is already in {queue}."})
    return _move(
        request,
        actor=actor,
        queue=queue,
        tier=queue.tier,
        reason=reason,
        kind=Escalation.Kind.REROUTE,
        event="rerouted",
    )


def _move(request: Request, *, actor, queue: Queue, tier: int, reason: str, kind: str, event: str) -> Request:
    with transaction.atomic():
        from_queue, from_tier = request.queue, request.tier
        create_object(
            Escalation,
            fields={
                "request": request,
                "kind": kind,
                "from_tier": from_tier,
                "to_tier": tier,
                "from_queue": from_queue,
                "to_queue": queue,
                "reason": reason,
                "by": None if _is_system(actor) else actor,
            },
        )
        fields: dict[str, Any] = {"queue": queue, "tier": tier}
        # The assignee stays only if they work the new queue too.
        if request.assignee_id is not None:
            probe = Request(pk=request.pk, queue=queue, system=request.system)
            if not selectors.can_work(request.assignee, probe):
                fields["assignee"] = None
        if fields.get("assignee", request.assignee) is None:
            agent = _auto_assign(queue)
            if agent is not None:
                fields["assignee"] = agent
        if request.status == Status.NEW:
            fields["status"] = Status.TRIAGED
        if tier != from_tier:
            fields.update(_sla().retarget(_with(request, fields)))
        request, _ = update_object(request, fields=fields)
        notifications.request_event(
            request, event, actor=actor, extra={"reason": reason, "from_queue": str(from_queue)}
        )
        if "assignee" in fields and fields["assignee"] is not None:
            notifications.request_event(request, "assigned", actor=actor)
    return request


def add_watcher(request: Request, *, actor, person: Person) -> Request:
    """Watchers get the public updates. The requester side may add watchers, and so may agents."""
    _require_see(actor, request)
    if not (
        _is_system(actor) or selectors.can_work(actor, request) or selectors.is_requester_side(actor, request)
    ):
        raise PermissionDenied("You may not change this request's watchers.")
    if not isinstance(person, Person):
        raise ValidationError({"person": "Choose a person."})
    current = list(request.watchers.all())
    if person in current:
        return request
    update_object(request, fields={}, m2m={"watchers": [*current, person]})
    return request


def remove_watcher(request: Request, *, actor, person: Person) -> Request:
    _require_see(actor, request)
    own = person.pk == getattr(actor, "person_id", None)
    if not (
        _is_system(actor)
        or own
        or selectors.can_work(actor, request)
        or selectors.is_requester_side(actor, request)
    ):
        raise PermissionDenied("You may not change this request's watchers.")
    current = list(request.watchers.all())
    if person not in current:
        return request
    update_object(request, fields={}, m2m={"watchers": [w for w in current if w != person]})
    return request


def bulk_update(
    requests: Iterable[Request],
    *,
    actor,
    assignee: Any = UNSET,
    status: Any = UNSET,
    priority: Any = UNSET,
    queue: Any = UNSET,
) -> int:
    """Apply the same change to many requests, all or nothing: one the actor cannot work refuses the lot.
    Returns how many requests changed."""
    requests = list(requests)
    if status is not UNSET and status not in Status.values:
        raise ValidationError({"status": f"Choose one of: {', '.join(Status.values)}."})
    if priority is not UNSET:
        _priority(priority)
    if queue is not UNSET and not isinstance(queue, Queue):
        raise ValidationError({"queue": "Choose a queue."})
    for request in requests:
        _require_work(actor, request)
    changed = 0
    with transaction.atomic():
        for request in requests:
            before = (request.assignee_id, request.status, request.priority, request.queue_id)
            if queue is not UNSET and queue.pk != request.queue_id:
                request = reroute(request, actor=actor, queue=queue, reason="Bulk re-route.")
            if assignee is not UNSET and getattr(assignee, "pk", None) != request.assignee_id:
                request = assign(request, actor=actor, assignee=assignee)
            if priority is not UNSET and priority != request.priority:
                request = update_request(request, actor=actor, priority=priority)
            if status is not UNSET and status != request.status:
                request = set_status(request, actor=actor, status=status)
            if before != (request.assignee_id, request.status, request.priority, request.queue_id):
                changed += 1
    return changed


# ---------------------------------------------------------------------------------------------- attachments

# Extension -> the content kind its bytes must sniff as, and the content type we store.
ALLOWED_TYPES: dict[str, tuple[str, str]] = {
    ".png": ("png", "image/png"),
    ".jpg": ("jpeg", "image/jpeg"),
    ".jpeg": ("jpeg", "image/jpeg"),
    ".gif": ("gif", "image/gif"),
    ".webp": ("webp", "image/webp"),
    ".pdf": ("pdf", "application/pdf"),
    ".txt": ("text", "text/plain"),
    ".log": ("text", "text/plain"),
    ".csv": ("text", "text/csv"),
    ".json": ("text", "application/json"),
    ".md": ("text", "text/markdown"),
    ".eml": ("text", "message/rfc822"),
    ".docx": ("zip", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    ".xlsx": ("zip", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ".pptx": ("zip", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
}
KIND_NAMES = {
    "png": "a PNG image",
    "jpeg": "a JPEG image",
    "gif": "a GIF image",
    "webp": "a WebP image",
    "pdf": "a PDF",
    "text": "plain text",
    "zip": "an Office document",
}


def max_attachment_bytes() -> int:
    return int(getattr(settings, "GATEHOUSE_DESK_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))


def sniff(head: bytes) -> str | None:
    """What the first bytes of a file say it is."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    if b"\x00" in head:
        return None
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A multi-byte character cut at the end of the sample is still text.
        if exc.start < len(head) - 3:
            return None
    return "text"


def _size_text(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MiB" if n >= 1024 * 1024 else f"{n} bytes"


def check_upload(upload: UploadedFile) -> tuple[str, str]:
    """Refuse a file that is too big or not an allowed type, naming it. Returns (safe name, content type)."""
    raw_name = os.path.basename(str(getattr(upload, "name", "") or "")).replace("\x00", "")
    shown = raw_name[:100] or "the file"
    name = get_valid_filename(raw_name)[:200] if raw_name.strip(". ") else ""
    if not name:
        raise ValidationError({"attachments": f"{shown}: the file needs a name."})
    size = upload.size or 0
    limit = max_attachment_bytes()
    if size > limit:
        raise ValidationError(
            {"attachments": f"{shown} is {_size_text(size)}; attachments may be at most {_size_text(limit)}."}
        )
    if size == 0:
        raise ValidationError({"attachments": f"{shown} is empty."})
    ext = os.path.splitext(name)[1].lower()
    if ext not in ALLOWED_TYPES:
        allowed = ", ".join(sorted(ALLOWED_TYPES))
        raise ValidationError(
            {"attachments": f"{shown}: files of type {ext or '(none)'} are not allowed; allowed: {allowed}."}
        )
    kind, content_type = ALLOWED_TYPES[ext]
    upload.seek(0)
    head = upload.read(8192)
    upload.seek(0)
    found = sniff(head)
    if found != kind:
        raise ValidationError(
            {
                "attachments": f"{shown}: its content is not {KIND_NAMES[kind]} as its name says, so it was refused."
            }
        )
    return name, content_type


def _store_attachment(
    request: Request, *, actor, upload: UploadedFile, comment: Comment | None
) -> Attachment:
    name, content_type = check_upload(upload)
    digest = hashlib.sha256()
    upload.seek(0)
    for chunk in upload.chunks():
        digest.update(chunk)
    upload.seek(0)
    return create_object(
        Attachment,
        fields={
            "request": request,
            "comment": comment,
            "file": upload,
            "name": name,
            "content_type": content_type,
            "size": upload.size,
            "sha256": digest.hexdigest(),
            "uploaded_by": None if _is_system(actor) else actor,
        },
    )


def add_attachment(
    request: Request, *, actor, upload: UploadedFile, comment: Comment | None = None
) -> Attachment:
    """Attach a file (size limit and type allow-list). Whoever may reply may attach."""
    _require_see(actor, request)
    if not (
        _is_system(actor) or selectors.can_work(actor, request) or selectors.is_requester_side(actor, request)
    ):
        raise PermissionDenied("You may not add files to this request.")
    if comment is not None and comment.request_id != request.pk:
        raise ValidationError({"comment": "That comment belongs to another request."})
    with transaction.atomic():
        return _store_attachment(request, actor=actor, upload=upload, comment=comment)


# ---------------------------------------------------------------------------------------------- configuration


def _config_fields(model, data: dict[str, Any], allowed: set[str]) -> dict[str, Any]:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError({name: "Unknown field." for name in unknown})
    return data


REQUEST_TYPE_FIELDS = {
    "slug",
    "name",
    "description",
    "form_schema",
    "system_field",
    "default_priority",
    "sla_policy",
    "default_queue",
    "is_active",
    "position",
}
QUEUE_FIELDS = {"slug", "name", "team", "tier", "is_triage", "round_robin"}
RULE_FIELDS = {"name", "position", "is_active", "condition", "actions"}


def create_request_type(*, actor, **fields: Any) -> RequestType:
    require(actor, "desk.add_requesttype")
    return create_object(RequestType, fields=_config_fields(RequestType, fields, REQUEST_TYPE_FIELDS))


def update_request_type(request_type: RequestType, *, actor, **fields: Any) -> RequestType:
    require(actor, "desk.change_requesttype", request_type)
    request_type, _ = update_object(
        request_type, fields=_config_fields(RequestType, fields, REQUEST_TYPE_FIELDS)
    )
    return request_type


def create_queue(*, actor, **fields: Any) -> Queue:
    require(actor, "desk.add_queue")
    return create_object(Queue, fields=_config_fields(Queue, fields, QUEUE_FIELDS))


def update_queue(queue: Queue, *, actor, **fields: Any) -> Queue:
    require(actor, "desk.change_queue", queue)
    queue, _ = update_object(queue, fields=_config_fields(Queue, fields, QUEUE_FIELDS))
    return queue


def create_routing_rule(*, actor, **fields: Any):
    from gatehouse.desk.models import RoutingRule

    require(actor, "desk.add_routingrule")
    return create_object(RoutingRule, fields=_config_fields(RoutingRule, fields, RULE_FIELDS))


def update_routing_rule(rule, *, actor, **fields: Any):
    require(actor, "desk.change_routingrule", rule)
    rule, _ = update_object(rule, fields=_config_fields(type(rule), fields, RULE_FIELDS))
    return rule


def delete_routing_rule(rule, *, actor) -> None:
    from gatehouse.core.services import delete_object

    require(actor, "desk.delete_routingrule", rule)
    delete_object(rule)


RULE_POSITION_STEP = 10


def move_routing_rule(rule, *, actor, direction: str):
    """Swap a rule with its neighbour in the order rules run (position, then id), audited.

    When the two have different positions they swap them (two audited updates). When they tie (the id breaks
    the tie), every rule is renumbered 10, 20, 30, ... in the new order, each change audited. A rule already
    first (or last) stays where it is. Returns the rule, reloaded.
    """
    from gatehouse.desk.models import RoutingRule

    require(actor, "desk.change_routingrule", rule)
    if direction not in ("up", "down"):
        raise ValidationError({"direction": 'Choose "up" or "down".'})
    with transaction.atomic():
        rules = list(RoutingRule.objects.select_for_update().order_by("position", "id"))
        index = next((i for i, r in enumerate(rules) if r.pk == rule.pk), None)
        if index is None:
            raise ValidationError({"__all__": "That routing rule no longer exists."})
        other = index - 1 if direction == "up" else index + 1
        if not 0 <= other < len(rules):
            return rules[index]
        this, that = rules[index], rules[other]
        wanted = list(rules)
        wanted[index], wanted[other] = that, this
        swapped = {r.pk: r.position for r in rules}
        swapped[this.pk], swapped[that.pk] = that.position, this.position
        if sorted(rules, key=lambda r: (swapped[r.pk], r.pk)) == wanted:
            # Swapping the two positions gives the wanted order (no tie with a third rule).
            # Only positions change: no need to re-validate each rule's condition and actions here.
            update_object(this, fields={"position": swapped[this.pk]}, validate=False)
            update_object(that, fields={"position": swapped[that.pk]}, validate=False)
            return this
        for number, item in enumerate(wanted, start=1):
            update_object(item, fields={"position": number * RULE_POSITION_STEP}, validate=False)
        return this
