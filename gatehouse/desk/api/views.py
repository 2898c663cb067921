"""/api/v1/desk/...: thin endpoints over the desk's selectors and services.

Requests: everyone files; requesters see their own, agents their queues', owners their systems', admins and
auditors all (auditors write nothing). Request types, queues and routing rules: everyone signed in reads types
and queues, agents read rules, admins write all three. Every check happens in the selectors and services.
"""

from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest
from ninja import File, Query, Router, Status
from ninja.files import UploadedFile
from ninja.pagination import paginate

from gatehouse.core.api.errors import fields_named
from gatehouse.core.api.filtering import apply_filters, query_schema
from gatehouse.core.api.pagination import LimitOffsetPagination
from gatehouse.core.api.schemas import sent_fields
from gatehouse.core.permissions import require
from gatehouse.desk import selectors, services
from gatehouse.desk.api.schemas import (
    AssignIn,
    AttachmentUploadOut,
    BulkIn,
    BulkOut,
    CommentIn,
    CommentOut,
    EscalateIn,
    QueueIn,
    QueueOut,
    QueuePatch,
    RequestDetailOut,
    RequestIn,
    RequestOut,
    RequestPatch,
    RequestTypeIn,
    RequestTypeOut,
    RequestTypePatch,
    RerouteIn,
    RoutingRuleIn,
    RoutingRuleOut,
    RoutingRulePatch,
)
from gatehouse.desk.filtersets import RequestFilterSet
from gatehouse.desk.models import Channel, Comment, Escalation, Queue, RequestType, RoutingRule, SlaPolicy
from gatehouse.directory.models import Person, Team
from gatehouse.users.models import User

requests_router = Router(tags=["desk requests"])
types_router = Router(tags=["desk configuration"])
queues_router = Router(tags=["desk configuration"])
rules_router = Router(tags=["desk configuration"])

RequestQuery = query_schema(RequestFilterSet)
MAX_ID = 2**63 - 1


# ---------------------------------------------------------------------------------------------- lookups


def _people(emails: list[str], field: str) -> list[Person]:
    found = {p.email: p for p in Person.objects.filter(email__in=set(emails))}
    missing = [e for e in emails if e not in found]
    if missing:
        raise ValidationError({field: f"No person with email {', '.join(missing)}."})
    return [found[e] for e in dict.fromkeys(emails)]


def _queue(slug: str, field: str = "queue") -> Queue:
    queue = Queue.objects.select_related("team").filter(slug=slug).first()
    if queue is None:
        raise ValidationError({field: f"No queue with slug {slug!r}."})
    return queue


def _user(username: str | None, field: str = "assignee") -> User | None:
    if username is None:
        return None
    user = User.objects.filter(username=username).first()
    if user is None:
        raise ValidationError({field: f"No user named {username!r}."})
    return user


def _detail_out(user, request_id: int):
    """The request with what its detail shows: comments (notes only for those who work it), escalations and the
    attachments the user may see."""
    request = selectors.get_request(user, request_id)
    comments = Comment.objects.filter(request=request).select_related("author", "author_person")
    if not (selectors.can_work(user, request) or selectors.sees_all(user)):
        comments = comments.filter(is_internal=False)
    request.api_comments = list(comments)
    request.api_escalations = list(
        Escalation.objects.filter(request=request).select_related("from_queue", "to_queue", "by")
    )
    request.api_attachments = list(selectors.visible_attachments(user, request))
    return request


# ---------------------------------------------------------------------------------------------- requests


@requests_router.get("", response=list[RequestOut], summary="List requests")
@paginate(LimitOffsetPagination)
def list_requests(request: HttpRequest, filters: Query[RequestQuery]):
    """The requests you may see. Filters: status, queue, priority, tier, assignee (username, `me`, `none`),
    system, type, requester (email), sla (a state of either clock), q (text or REQ-123)."""
    return apply_filters(RequestFilterSet, request.GET, selectors.request_list(request.user), request)


@requests_router.post("", response={201: RequestDetailOut}, summary="File a request")
def create_request(request: HttpRequest, payload: RequestIn):
    """Routing decides the queue; the answers to the type's form go in `fields` (errors at `fields.<name>`)."""
    require(request.user, "desk.add_request")
    data = sent_fields(payload)
    requester = _people([data["requester"]], "requester")[0] if data.get("requester") else None
    watchers = _people(data.get("watchers") or [], "watchers")
    filed = services.file_request(
        actor=request.user,
        request_type=data["request_type"],
        subject=data["subject"],
        description=data.get("description", ""),
        fields=data.get("fields") or {},
        system=data.get("system"),
        requester=requester,
        channel=Channel.API,
        priority=data.get("priority"),
        watchers=watchers,
    )
    return Status(201, _detail_out(request.user, filed.pk))


# Declared before "/{request_id}" so that path does not take "bulk" for an id.
@requests_router.post("/bulk", response=BulkOut, summary="Change many requests at once")
def bulk(request: HttpRequest, payload: BulkIn):
    """The same change (assignee, status, priority, queue) to every listed request, all or nothing. An id you
    cannot see is refused (422, naming it) like one that does not exist; a request you see but do not work
    refuses the lot (403). Nothing changes unless everything can."""
    data = sent_fields(payload)
    ids = list(dict.fromkeys(data.pop("ids")))
    for name in ("status", "priority", "queue"):
        if name in data and data[name] is None:
            raise ValidationError({name: "May not be null."})
    if not data:
        raise ValidationError({"__all__": "Give at least one change: assignee, status, priority or queue."})
    found = {r.pk: r for r in selectors.visible_requests(request.user).filter(pk__in=ids)}
    unknown = [pk for pk in ids if pk not in found]
    if unknown:
        shown = ", ".join(f"REQ-{pk}" for pk in unknown[:20]) + (" ..." if len(unknown) > 20 else "")
        raise ValidationError({"ids": f"No request {shown} (or none you can see)."})
    changes: dict[str, Any] = {}
    if "assignee" in data:
        changes["assignee"] = _user(data["assignee"])
    if "status" in data:
        changes["status"] = data["status"]
    if "priority" in data:
        changes["priority"] = data["priority"]
    if "queue" in data:
        changes["queue"] = _queue(data["queue"])
    changed = services.bulk_update([found[pk] for pk in ids], actor=request.user, **changes)
    return {"changed": changed, "ids": ids}


@requests_router.get("/{request_id}", response=RequestDetailOut, summary="Read a request")
def get_request(request: HttpRequest, request_id: int):
    return _detail_out(request.user, request_id)


@requests_router.patch("/{request_id}", response=RequestDetailOut, summary="Change a request")
def update_request(request: HttpRequest, request_id: int, payload: RequestPatch):
    """Send only what changes: subject, description, priority, labels, type, status, assignee, watchers."""
    obj = selectors.get_request(request.user, request_id)
    data = sent_fields(payload)
    for name in ("subject", "request_type", "status", "priority", "labels"):
        if name in data and data[name] is None:
            raise ValidationError({name: "May not be null."})
    with transaction.atomic():
        basics = {
            k: data[k] for k in ("subject", "description", "priority", "labels", "request_type") if k in data
        }
        if "description" in basics and basics["description"] is None:
            basics["description"] = ""
        if basics:
            obj = services.update_request(obj, actor=request.user, **basics)
        if "assignee" in data:
            obj = services.assign(obj, actor=request.user, assignee=_user(data["assignee"]))
        if "status" in data:
            obj = services.set_status(obj, actor=request.user, status=data["status"])
        if "watchers" in data:
            wanted = _people(data["watchers"] or [], "watchers")
            current = list(obj.watchers.all())
            for person in current:
                if person not in wanted:
                    services.remove_watcher(obj, actor=request.user, person=person)
            for person in wanted:
                if person not in current:
                    services.add_watcher(obj, actor=request.user, person=person)
    return _detail_out(request.user, request_id)


@requests_router.post("/{request_id}/comments", response={201: CommentOut}, summary="Reply or add a note")
def comment(request: HttpRequest, request_id: int, payload: CommentIn):
    obj = selectors.get_request(request.user, request_id)
    return Status(
        201,
        services.reply(
            obj, actor=request.user, body=payload.body, internal=payload.internal, channel=Channel.API
        ),
    )


@requests_router.post("/{request_id}/escalate", response=RequestDetailOut, summary="Escalate to tier 3")
def escalate(request: HttpRequest, request_id: int, payload: EscalateIn):
    obj = selectors.get_request(request.user, request_id)
    queue = _queue(payload.queue) if payload.queue else None
    services.escalate(obj, actor=request.user, reason=payload.reason, queue=queue)
    return _detail_out(request.user, request_id)


@requests_router.post("/{request_id}/reroute", response=RequestDetailOut, summary="Re-route to another queue")
def reroute(request: HttpRequest, request_id: int, payload: RerouteIn):
    obj = selectors.get_request(request.user, request_id)
    services.reroute(obj, actor=request.user, queue=_queue(payload.queue), reason=payload.reason)
    # The actor may no longer see it after moving it away: answer with what they can see.
    try:
        return _detail_out(request.user, request_id)
    except Http404:
        raise PermissionDenied("Re-routed; you no longer see this request.") from None


@requests_router.post("/{request_id}/assign", response=RequestDetailOut, summary="Assign (or unassign)")
def assign(request: HttpRequest, request_id: int, payload: AssignIn):
    obj = selectors.get_request(request.user, request_id)
    services.assign(obj, actor=request.user, assignee=_user(payload.assignee))
    return _detail_out(request.user, request_id)


@requests_router.post(
    "/{request_id}/attachments", response={201: AttachmentUploadOut}, summary="Attach a file (multipart)"
)
def upload_attachment(request: HttpRequest, request_id: int, file: File[UploadedFile]):
    """Send the file as multipart/form-data in the field `file`. Size limit and type allow-list apply (the
    content must match the name's type); a refused file is a 422 at `["body", "file"]` naming it and why."""
    obj = selectors.get_request(request.user, request_id)
    with fields_named({"attachments": "file"}):
        attachment = services.add_attachment(obj, actor=request.user, upload=file)
    return Status(201, attachment)


@requests_router.get(
    "/{request_id}/attachments/{attachment_id}",
    response={200: None},
    summary="Download an attachment",
    openapi_extra={
        "responses": {
            200: {
                "description": "The file, always as a download (Content-Disposition: attachment).",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def download_attachment(request: HttpRequest, request_id: int, attachment_id: int):
    """A file of a request you can see (files on internal notes only for those who work it). Always sent as a
    download with a generic content type, never rendered inline."""
    obj = selectors.get_request(request.user, request_id)
    if not 0 < attachment_id <= MAX_ID:
        raise Http404
    attachment = selectors.visible_attachments(request.user, obj).filter(pk=attachment_id).first()
    if attachment is None:
        raise Http404
    try:
        handle = attachment.file.open("rb")
    except OSError as exc:
        raise Http404 from exc
    response = FileResponse(handle, as_attachment=True, filename=attachment.name)
    response["Content-Type"] = "application/octet-stream"
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response


# ---------------------------------------------------------------------------------------------- configuration


def _type_fields(data: dict[str, Any]) -> dict[str, Any]:
    if "sla_policy" in data and data["sla_policy"] is not None:
        policy = SlaPolicy.objects.filter(slug=data["sla_policy"]).first()
        if policy is None:
            raise ValidationError({"sla_policy": f"No SLA policy with slug {data['sla_policy']!r}."})
        data["sla_policy"] = policy
    if "default_queue" in data and data["default_queue"] is not None:
        data["default_queue"] = _queue(data["default_queue"], "default_queue")
    for name in (
        "slug",
        "name",
        "description",
        "form_schema",
        "system_field",
        "default_priority",
        "is_active",
        "position",
    ):
        if name in data and data[name] is None:
            raise ValidationError({name: "May not be null."})
    return data


def _get_type(slug: str) -> RequestType:
    obj = RequestType.objects.select_related("sla_policy", "default_queue").filter(slug=slug).first()
    if obj is None:
        raise Http404
    return obj


@types_router.get("", response=list[RequestTypeOut], summary="List request types")
def list_request_types(request: HttpRequest):
    require(request.user, "desk.view_requesttype")
    return list(selectors.request_types(request.user, include_inactive=True))


@types_router.get("/{slug}", response=RequestTypeOut, summary="Read a request type")
def get_request_type(request: HttpRequest, slug: str):
    require(request.user, "desk.view_requesttype")
    return _get_type(slug)


@types_router.post("", response={201: RequestTypeOut}, summary="Create a request type")
def create_request_type(request: HttpRequest, payload: RequestTypeIn):
    require(request.user, "desk.add_requesttype")
    obj = services.create_request_type(actor=request.user, **_type_fields(sent_fields(payload)))
    return Status(201, _get_type(obj.slug))


@types_router.patch("/{slug}", response=RequestTypeOut, summary="Change a request type")
def update_request_type(request: HttpRequest, slug: str, payload: RequestTypePatch):
    require(request.user, "desk.change_requesttype")
    obj = services.update_request_type(
        _get_type(slug), actor=request.user, **_type_fields(sent_fields(payload))
    )
    return _get_type(obj.slug)


def _queue_fields(data: dict[str, Any]) -> dict[str, Any]:
    if "team" in data and data["team"] is not None:
        team = Team.objects.filter(slug=data["team"]).first()
        if team is None:
            raise ValidationError({"team": f"No team with slug {data['team']!r}."})
        data["team"] = team
    for name in ("slug", "name", "tier", "is_triage", "round_robin"):
        if name in data and data[name] is None:
            raise ValidationError({name: "May not be null."})
    return data


def _get_queue(slug: str) -> Queue:
    obj = Queue.objects.select_related("team").filter(slug=slug).first()
    if obj is None:
        raise Http404
    return obj


@queues_router.get("", response=list[QueueOut], summary="List queues")
def list_queues(request: HttpRequest):
    require(request.user, "desk.view_queue")
    return list(selectors.queues(request.user))


@queues_router.get("/{slug}", response=QueueOut, summary="Read a queue")
def get_queue(request: HttpRequest, slug: str):
    require(request.user, "desk.view_queue")
    return _get_queue(slug)


@queues_router.post("", response={201: QueueOut}, summary="Create a queue")
def create_queue(request: HttpRequest, payload: QueueIn):
    require(request.user, "desk.add_queue")
    obj = services.create_queue(actor=request.user, **_queue_fields(sent_fields(payload)))
    return Status(201, _get_queue(obj.slug))


@queues_router.patch("/{slug}", response=QueueOut, summary="Change a queue")
def update_queue(request: HttpRequest, slug: str, payload: QueuePatch):
    require(request.user, "desk.change_queue")
    obj = services.update_queue(_get_queue(slug), actor=request.user, **_queue_fields(sent_fields(payload)))
    return _get_queue(obj.slug)


def _get_rule(rule_id: int) -> RoutingRule:
    if not 0 < rule_id <= MAX_ID:
        raise Http404
    return RoutingRule.objects.filter(pk=rule_id).first() or _raise404()


def _raise404():
    raise Http404


def _rule_fields(data: dict[str, Any]) -> dict[str, Any]:
    for name in ("name", "position", "is_active", "condition", "actions"):
        if name in data and data[name] is None:
            raise ValidationError({name: "May not be null."})
    return data


@rules_router.get("", response=list[RoutingRuleOut], summary="List routing rules (in the order they run)")
def list_rules(request: HttpRequest):
    return list(selectors.routing_rules(request.user))


@rules_router.get("/{rule_id}", response=RoutingRuleOut, summary="Read a routing rule")
def get_rule(request: HttpRequest, rule_id: int):
    require(request.user, "desk.view_routingrule")
    return _get_rule(rule_id)


@rules_router.post("", response={201: RoutingRuleOut}, summary="Create a routing rule")
def create_rule(request: HttpRequest, payload: RoutingRuleIn):
    require(request.user, "desk.add_routingrule")
    return Status(201, services.create_routing_rule(actor=request.user, **_rule_fields(sent_fields(payload))))


@rules_router.patch("/{rule_id}", response=RoutingRuleOut, summary="Change a routing rule")
def update_rule(request: HttpRequest, rule_id: int, payload: RoutingRulePatch):
    require(request.user, "desk.change_routingrule")
    return services.update_routing_rule(
        _get_rule(rule_id), actor=request.user, **_rule_fields(sent_fields(payload))
    )


@rules_router.delete("/{rule_id}", response={204: None}, summary="Delete a routing rule")
def delete_rule(request: HttpRequest, rule_id: int):
    require(request.user, "desk.delete_routingrule")
    services.delete_routing_rule(_get_rule(rule_id), actor=request.user)
    return Status(204, None)
