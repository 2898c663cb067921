"""Reads for the desk, with permissions applied in the query.

Who sees a request:
- its requester (the request's person), whoever filed it, and its watchers;
- the queue's agents: the members of the queue's team (helpdesk analysts in the helpdesk team, engineers and
  owners in a system owner team's queue); a triage queue without a team is worked by every helpdesk analyst
  (the role), as it is on a new install;
- system owners (members of the system's owner team, or its business or technical owner, directly or through
  a team) for their systems' requests;
- admins and auditors (desk.view_request) see all; auditors read only.

Who works (changes) a request: admins (desk.change_request); an agent of its queue's team; an owner of its
system; its assignee. Nobody changes what they cannot see. desk.work_request (helpdesk analysts, engineers,
admins) marks an agent: they may file on someone's behalf and see the routing rules.
"""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet
from django.http import Http404

from gatehouse.catalog.selectors import OWNER_ROLES
from gatehouse.desk.models import Comment, Escalation, Queue, Request, RequestType, RoutingRule

WORK_PERMISSION = "desk.work_request"
HELPDESK_ROLE = "helpdesk_analyst"


def _works_teamless_triage(user) -> bool:
    return _signed_in(user) and user.has_role(HELPDESK_ROLE)


def _teamless_triage_ids():
    return Queue.objects.filter(is_triage=True, team__isnull=True).values("pk")


def _person_id(user) -> int | None:
    return getattr(user, "person_id", None)


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)


def sees_all(user) -> bool:
    return _signed_in(user) and user.has_perm("desk.view_request")


def is_agent(user) -> bool:
    """Works requests in the queues of their teams (helpdesk analysts, engineers, admins)."""
    return _signed_in(user) and user.has_perm(WORK_PERMISSION)


def system_owner_q(person_id: int, prefix: str = "system__") -> Q:
    return (
        Q(**{f"{prefix}contacts__role__in": OWNER_ROLES, f"{prefix}contacts__person": person_id})
        | Q(**{f"{prefix}contacts__role__in": OWNER_ROLES, f"{prefix}contacts__team__members": person_id})
        | Q(**{f"{prefix}owner_team__members": person_id})
    )


def _visibility_q(user) -> Q | None:
    """None: everything. Q(pk__in=[]) for nobody.

    Each branch is an id subquery rather than a join: the outer query then repeats no rows and stays an index
    scan over requests (joins across watchers, contacts and team members made a system owner's queue page take
    seconds on SQLite with 50,000 requests; bench/desk.py).
    """
    if not _signed_in(user):
        return Q(pk__in=[])
    if sees_all(user):
        return None
    person_id = _person_id(user)
    own = Q(filed_by=user.pk)
    if person_id is None:
        return own
    watched = Request.watchers.through.objects.filter(person_id=person_id).values("request_id")
    team_queues = Queue.objects.filter(team__members=person_id).values("pk")
    condition = (
        own
        | Q(requester=person_id)
        | Q(pk__in=watched)
        | Q(queue_id__in=team_queues)
        | Q(system_id__in=_owned_system_ids(person_id))
    )
    if _works_teamless_triage(user):
        condition |= Q(queue_id__in=_teamless_triage_ids())
    return condition


def _related(qs: QuerySet[Request]) -> QuerySet[Request]:
    return qs.select_related(
        "request_type", "system", "requester", "queue", "queue__team", "assignee", "routing_rule"
    )


def visible_requests(user) -> QuerySet[Request]:
    """Every request the user may read, related rows selected (no query per row for the list)."""
    condition = _visibility_q(user)
    qs = Request.objects.all() if condition is None else Request.objects.filter(condition)
    return _related(qs)


def request_list(user) -> QuerySet[Request]:
    """The API list and queue pages: rows plus watchers prefetched."""
    return visible_requests(user).prefetch_related("watchers")


def get_request(user, pk) -> Request:
    """One request the user may see, or Http404 (an invisible request is indistinguishable from none)."""
    try:
        pk = int(pk)
    except (TypeError, ValueError):
        raise Http404("No such request.") from None
    if not 0 < pk < 2**63:
        raise Http404("No such request.")
    # access_request: the access request this desk request carries (a reverse one-to-one, issue 4), in the
    # same query so the request page links to it without another.
    request = (
        visible_requests(user)
        .select_related("access_request")
        .prefetch_related("watchers")
        .filter(pk=pk)
        .first()
    )
    if request is None:
        raise Http404("No such request.")
    return request


def can_see(user, request: Request) -> bool:
    if not _signed_in(user):
        return False
    if sees_all(user):
        return True
    return Request.objects.filter(_visibility_q(user), pk=request.pk).exists()


def is_requester_side(user, request: Request) -> bool:
    """The user asked (or watches) rather than works: the requester, whoever filed it, or a watcher."""
    person_id = _person_id(user)
    if request.filed_by_id is not None and request.filed_by_id == getattr(user, "pk", None):
        return True
    if person_id is None:
        return False
    return request.requester_id == person_id or request.watchers.filter(pk=person_id).exists()


def works_queue(user, queue: Queue | None) -> bool:
    """A member of the queue's team: the queue's agents are its team's members with a sign-in."""
    if queue is not None and queue.team_id is None and queue.is_triage:
        return _works_teamless_triage(user)
    if queue is None or queue.team_id is None or _person_id(user) is None:
        return False
    return queue.team.members.filter(pk=_person_id(user)).exists()


def owns_system(user, request: Request) -> bool:
    person_id = _person_id(user)
    if person_id is None or request.system_id is None:
        return False
    from gatehouse.catalog.models import System

    return System.objects.filter(system_owner_q(person_id, prefix=""), pk=request.system_id).exists()


def can_work(user, request: Request) -> bool:
    """May change the request: reply as an agent, write notes, assign, change status, escalate, re-route."""
    if not _signed_in(user):
        return False
    if user.has_perm("desk.change_request"):  # admins (auditors never hold a write right)
        return True
    if user.has_role("auditor"):
        return False
    if request.assignee_id is not None and request.assignee_id == user.pk:
        return True
    return works_queue(user, request.queue) or owns_system(user, request)


def agent_queues(user) -> QuerySet[Queue]:
    """The queues a user works: all for admins, else those of the agent's teams and their owned systems' teams."""
    if not _signed_in(user):
        return Queue.objects.none()
    if user.has_perm("desk.change_request") or sees_all(user):
        return Queue.objects.select_related("team")
    person_id = _person_id(user)
    condition = Q(pk__in=_teamless_triage_ids()) if _works_teamless_triage(user) else Q(pk__in=[])
    if person_id is not None:
        condition |= Q(team__owned_systems__in=_owned_system_ids(person_id)) | Q(team__members=person_id)
    return Queue.objects.filter(pk__in=Queue.objects.filter(condition).values("pk")).select_related("team")


def _owned_system_ids(person_id: int):
    from gatehouse.catalog.models import System

    return System.objects.filter(system_owner_q(person_id, prefix="")).values("pk")


def queue_agents(queue: Queue):
    """The queue's agents: members of its team who have an active sign-in, in a stable order."""
    from django.db.models import Q as _Q
    from django.utils import timezone

    from gatehouse.users.models import User

    if queue.team_id is None:
        if not queue.is_triage:
            return User.objects.none()
        members = User.objects.filter(is_active=True, groups__name=HELPDESK_ROLE)
    else:
        members = User.objects.filter(is_active=True, person__teams=queue.team_id)
    return (
        members.filter(_Q(access_expires_at__isnull=True) | _Q(access_expires_at__gt=timezone.now()))
        .order_by("id")
        .distinct()
    )


def request_timeline(user, request: Request) -> list[dict]:
    """Replies, notes (agents only), escalations and status changes, oldest first.

    Each entry: {"kind": "reply"|"note"|"escalation"|"status"|"created", "at": datetime, "by": label, "object": ...}.
    """
    from gatehouse.audit.models import AuditEvent

    agent_view = can_work(user, request) or sees_all(user)
    entries: list[dict] = [
        {
            "kind": "created",
            "at": request.created,
            "by": str(request.filed_by or request.requester),
            "object": request,
        }
    ]
    comments = Comment.objects.filter(request=request).select_related("author", "author_person")
    comments = comments.prefetch_related("attachments")
    if not agent_view:
        comments = comments.filter(is_internal=False)
    for comment in comments:
        entries.append(
            {
                "kind": "note" if comment.is_internal else "reply",
                "at": comment.created,
                "by": str(comment.author_person or comment.author or "system"),
                "object": comment,
            }
        )
    for escalation in Escalation.objects.filter(request=request).select_related(
        "from_queue", "to_queue", "by"
    ):
        entries.append(
            {
                "kind": "escalation",
                "at": escalation.created,
                "by": str(escalation.by or "system"),
                "object": escalation,
            }
        )
    events = AuditEvent.objects.filter(
        object_type=request.audit_label(), object_id=str(request.pk), action=AuditEvent.Action.UPDATE
    ).order_by("timestamp", "id")
    for event in events:
        status = (event.changes or {}).get("status")
        if status:
            entries.append(
                {
                    "kind": "status",
                    "at": event.timestamp,
                    "by": event.actor_label or "system",
                    "object": {"from": status[0], "to": status[1]},
                }
            )
    entries.sort(key=lambda e: e["at"])
    return entries


def visible_attachments(user, request: Request):
    qs = request.attachments.select_related("comment", "uploaded_by")
    if not (can_work(user, request) or sees_all(user)):
        qs = qs.filter(Q(comment__isnull=True) | Q(comment__is_internal=False))
    return qs


def request_types(user, *, include_inactive: bool = False) -> QuerySet[RequestType]:
    qs = RequestType.objects.select_related("sla_policy", "default_queue")
    if not (include_inactive and user.has_perm("desk.change_requesttype")):
        qs = qs.filter(is_active=True)
    return qs


def get_request_type(user, slug: str) -> RequestType:
    request_type = request_types(user, include_inactive=True).filter(slug=slug).first()
    if request_type is None or (not request_type.is_active and not user.has_perm("desk.view_routingrule")):
        raise Http404("No such request type.")
    return request_type


def queues(user) -> QuerySet[Queue]:
    return Queue.objects.select_related("team")


def routing_rules(user) -> QuerySet[RoutingRule]:
    from gatehouse.core.permissions import require

    require(user, "desk.view_routingrule")
    return RoutingRule.objects.order_by("position", "id")


def comments_prefetch(user, request: Request) -> Prefetch:
    qs = Comment.objects.select_related("author", "author_person")
    if not can_work(user, request) and not sees_all(user):
        qs = qs.filter(is_internal=False)
    return Prefetch("comments", queryset=qs)
