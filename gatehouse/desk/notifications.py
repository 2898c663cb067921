"""Who hears about what happens to a request: email through Django's mail backend, and the team's chat.

``request_event(request, event, ...)`` queues a job for after the commit (a rolled-back change sends nothing);
the worker decides the recipients and sends the mail, so filing a request does not wait for that work. Chat
events go to desk.chat.notify_team, which queues its own delivery after the commit.

- Public events (created, replied, status_changed, resolved) go to the requester and the watchers.
- Internal events (assigned, noted, escalated, rerouted, sla_at_risk, sla_breached) go to the assignee, or
  to the queue's agents when nobody is assigned. An internal note never reaches the requester side.
- A new request, an escalation, a re-route and SLA warnings also go to the queue's team chat.
- Nobody is mailed about their own action.
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.urls import NoReverseMatch

from gatehouse.core.jobs import job

logger = logging.getLogger(__name__)

EVENTS = (
    "created",
    "assigned",
    "replied",
    "noted",
    "status_changed",
    "escalated",
    "rerouted",
    "sla_at_risk",
    "sla_breached",
    "resolved",
)
PUBLIC_EVENTS = {"created", "replied", "status_changed", "resolved"}
CHAT_EVENTS = {"created", "escalated", "rerouted", "sla_at_risk", "sla_breached"}
HEADLINES = {
    "created": "New request",
    "assigned": "Assigned",
    "replied": "New reply",
    "noted": "Internal note",
    "status_changed": "Status changed",
    "escalated": "Escalated to tier 3",
    "rerouted": "Re-routed",
    "sla_at_risk": "SLA at risk",
    "sla_breached": "SLA breached",
    "resolved": "Resolved",
}


def _link(request) -> str:
    base = getattr(settings, "BASE_URL", "").rstrip("/")
    try:
        return base + request.get_absolute_url()
    except NoReverseMatch:  # the page route belongs to another part
        return f"{base}/desk/requests/{request.pk}/"


def _person_email(person) -> str:
    return (getattr(person, "email", "") or "").strip().lower()


def _user_email(user) -> str:
    email = (getattr(user, "email", "") or "").strip().lower()
    if not email and getattr(user, "person_id", None):
        email = _person_email(user.person)
    return email


def _requester_side(request) -> set[str]:
    emails = {_person_email(request.requester)}
    emails |= {_person_email(p) for p in request.watchers.all()}
    if request.filed_by_id:
        emails.add(_user_email(request.filed_by))
    return emails


def _agent_side(request) -> set[str]:
    from gatehouse.desk.selectors import queue_agents

    if request.assignee_id:
        return {_user_email(request.assignee)}
    return {_user_email(u) for u in queue_agents(request.queue).select_related("person")}


def recipients(request, event: str, *, actor=None) -> list[str]:
    if event in PUBLIC_EVENTS:
        emails = _requester_side(request)
        if event == "created":
            emails |= _agent_side(request)
        elif event == "replied" and actor is not None:
            # The requester side wrote: the agents hear; an agent wrote: the requester side hears.
            from gatehouse.desk.selectors import can_work

            if not can_work(actor, request):
                emails |= _agent_side(request)
    else:
        emails = _agent_side(request)
        if event == "noted":
            # Notes never reach the requester side, even when the requester is also an agent's teammate.
            emails -= {_person_email(request.requester), *(_person_email(p) for p in request.watchers.all())}
    actor_emails = {_user_email(actor)} if actor is not None and getattr(actor, "pk", None) else set()
    return sorted(e for e in emails - actor_emails if e)


def compose(request, event: str, *, actor=None, comment=None, extra: dict | None = None) -> tuple[str, str]:
    extra = extra or {}
    headline = HEADLINES.get(event, event.replace("_", " ").capitalize())
    subject = f"[{request.reference}] {headline}: {request.subject}"[:250]
    who = str(getattr(actor, "person", None) or actor or "Gatehouse")
    lines = [f"{headline} by {who}." if actor is not None else f"{headline}.", ""]
    lines.append(f"{request.reference}: {request.subject}")
    lines.append(
        f"Status: {request.get_status_display()} · Priority: {request.get_priority_display()} · "
        f"Queue: {request.queue} (tier {request.tier})"
    )
    if request.assignee_id:
        lines.append(f"Assignee: {request.assignee}")
    if event == "status_changed" and extra.get("to"):
        lines.append(f"Status: {extra.get('from')} -> {extra.get('to')}")
    if extra.get("reason"):
        lines.append(f"Reason: {extra['reason']}")
    if comment is not None and (event == "replied" or event == "noted"):
        lines += ["", comment.body]
    if event == "created" and request.description:
        lines += ["", request.description]
    lines += ["", _link(request)]
    return subject, "\n".join(lines)


def chat_text(request, event: str, *, actor=None, extra: dict | None = None) -> str:
    extra = extra or {}
    headline = HEADLINES.get(event, event)
    text = f"{headline}: {request.reference} {request.subject} (priority {request.priority}, tier {request.tier})"
    if request.system_id:
        text += f" about {request.system}"
    if extra.get("reason"):
        text += f". Reason: {extra['reason']}"
    return text


def _send(subject: str, body: str, to: list[str]) -> int:
    """One message per recipient, so nobody learns who else hears about a request."""
    sent = 0
    for address in to:
        sent += EmailMessage(
            subject=subject, body=body, from_email=settings.DEFAULT_FROM_EMAIL, to=[address]
        ).send()
    return sent


@job(retries=3, retry_delay=60)
def send_request_event_mail(
    request_id: int, event: str, actor_id: int | None, comment_id: int | None, extra: dict
) -> int:
    """The worker's half of request_event: recipients and text from the committed request."""
    from gatehouse.desk.models import Comment, Request
    from gatehouse.users.models import User

    request = (
        Request.objects.select_related("requester", "queue", "assignee", "filed_by", "system")
        .filter(pk=request_id)
        .first()
    )
    if request is None:  # deleted since: nothing to say
        return 0
    actor = User.objects.select_related("person").filter(pk=actor_id).first() if actor_id else None
    comment = Comment.objects.filter(pk=comment_id).first() if comment_id else None
    to = recipients(request, event, actor=actor)
    if not to:
        return 0
    subject, body = compose(request, event, actor=actor, comment=comment, extra=extra)
    return _send(subject, body, to)


def request_event(request, event: str, *, actor=None, comment=None, extra: dict | None = None) -> None:
    """Announce an event on a request by mail (after the commit) and to the queue team's chat."""
    if event not in EVENTS:
        raise ValueError(f"Unknown desk event {event!r}.")
    if comment is not None and comment.is_internal and event != "noted":
        event = "noted"
    # Only a signed-in user is an actor for mail (the SYSTEM actor and jobs mail as "Gatehouse").
    actor_id = actor.pk if getattr(actor, "is_authenticated", False) and getattr(actor, "pk", None) else None
    comment_id = comment.pk if comment is not None else None
    args = (request.pk, event, actor_id, comment_id, dict(extra or {}))
    transaction.on_commit(lambda: send_request_event_mail(*args))
    if event in CHAT_EVENTS and request.queue.team_id is not None:
        from gatehouse.desk import chat

        chat.notify_team(
            request.queue.team, event, request, chat_text(request, event, actor=actor, extra=extra)
        )
