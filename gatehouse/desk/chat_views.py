"""Chat pages and endpoints.

Inbound (Slack calls these; plain Django views, CSRF-exempt, POST only, verified with the signing secret):
- `slack_commands`          POST /integrations/slack/commands      the slash command `/it-help <text>`
- `slack_interactions`      POST /integrations/slack/interactions  the buttons on a notification

Admin pages (admins only, checked on the server):
- `desk:chat_deliveries`    the delivery log, filtered by state, team and event
- `desk:chat_delivery`      one delivery with its attempts; `desk:chat_delivery_resend` sends a failed one again
- `desk:chat_webhooks`      every team's webhook (masked); `desk:chat_webhook` sets, rotates, disables one
"""

from __future__ import annotations

import json
import logging
from typing import Any

import django_filters
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch
from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST
from slack_sdk.signature import SignatureVerifier

from gatehouse.core import context
from gatehouse.core.context import Source
from gatehouse.core.permissions import SYSTEM
from gatehouse.core.views import apply_service_errors
from gatehouse.desk import chat
from gatehouse.desk.models import Channel, ChatDelivery, ChatWebhook, Request, Status
from gatehouse.directory.models import Person, PersonStatus, Team

logger = logging.getLogger(__name__)

USAGE = (
    "Usage: `/it-help <what you need>`, e.g. `/it-help my laptop will not connect to the VPN`. "
    "It opens a help desk request for you; the help desk answers in Gatehouse."
)
SUBJECT_LENGTH = 120
# What `/it-help` files: a general question for the helpdesk's triage queue (no system). The type's required
# form fields are answered with these values; settings may choose another type and its answers.
CHAT_REQUEST_TYPE = "security-question"
CHAT_REQUEST_FIELDS = {"topic": "Other"}


# --- inbound: verification --------------------------------------------------------------------------------


def verify_slack(request) -> HttpResponse | None:
    """None when the request is Slack's; else the refusal to return (nothing is read from the body)."""
    secret = getattr(settings, "SLACK_SIGNING_SECRET", "")
    if not secret:
        return HttpResponse(
            "Slack integration is not configured: set GATEHOUSE_SLACK_SIGNING_SECRET (see docs/chat.md).",
            status=503,
            content_type="text/plain",
        )
    verifier = SignatureVerifier(secret)
    valid = verifier.is_valid(
        body=request.body,
        timestamp=request.headers.get("X-Slack-Request-Timestamp"),
        signature=request.headers.get("X-Slack-Signature"),
    )
    if not valid:
        # The timestamp check (older than 5 minutes, or from the future) is part of is_valid.
        logger.warning("Refused a Slack request to %s: missing, bad or stale signature", request.path)
        return HttpResponse("Invalid or stale Slack signature.", status=401, content_type="text/plain")
    return None


def ephemeral(text: str, **extra: Any) -> JsonResponse:
    return JsonResponse({"response_type": "ephemeral", "text": text, **extra})


def match_person(handle: str) -> tuple[Person | None, str]:
    """The person whose chat handle is the Slack user name, or why there is none."""
    handle = (handle or "").strip().lstrip("@")
    if not handle:
        return None, "Slack did not send your user name, so Gatehouse cannot tell who you are."
    people = list(Person.objects.filter(handle__iexact=handle).select_related("user")[:2])
    if not people:
        return None, (
            f"No person in Gatehouse has the chat handle @{handle}, so nothing was done. "
            "Ask an admin to set your handle on your person page, or use the Desk in Gatehouse."
        )
    if len(people) > 1:
        return None, (
            f"More than one person in Gatehouse has the chat handle @{handle}, so nothing was done. "
            "Ask an admin to fix the handles, or use the Desk in Gatehouse."
        )
    if people[0].status == PersonStatus.TERMINATED:
        return None, f"@{handle} belongs to a person who has left, so nothing was done."
    return people[0], ""


def linked_user(person: Person):
    user = getattr(person, "user", None)
    if user is None or not user.is_active or user.access_expired:
        return None
    return user


def _label(handle: str, slack_user_id: str) -> str:
    return f"chat:@{handle}" + (f" ({slack_user_id})" if slack_user_id else "")


# --- inbound: the slash command ---------------------------------------------------------------------------


@csrf_exempt
@require_POST
def slack_commands(request):
    """`/it-help <text>` opens a help desk request (no system: helpdesk triage) for the Slack user's person."""
    refused = verify_slack(request)
    if refused is not None:
        return refused
    text = (request.POST.get("text") or "").strip()
    command = request.POST.get("command") or "/it-help"
    if not text or text.lower() in {"help", "?"}:
        return ephemeral(USAGE.replace("/it-help", command))
    handle = request.POST.get("user_name", "")
    person, why = match_person(handle)
    if person is None:
        return ephemeral(why)
    user = linked_user(person)
    # A person without a sign-in may still ask for help: Gatehouse files it for them, the audit trail names
    # the verified chat user.
    actor = user if user is not None else SYSTEM
    from gatehouse.desk import services

    first_line = text.splitlines()[0]
    subject = first_line if len(first_line) <= SUBJECT_LENGTH else first_line[: SUBJECT_LENGTH - 1] + "…"
    try:
        with context.change_context(
            source=Source.CHAT,
            actor=user,
            actor_label=_label(person.handle, request.POST.get("user_id", "")),
        ):
            filed = services.file_request(
                actor=actor,
                request_type=getattr(settings, "DESK_CHAT_REQUEST_TYPE", CHAT_REQUEST_TYPE),
                subject=subject,
                description=text,
                fields=dict(getattr(settings, "DESK_CHAT_REQUEST_FIELDS", CHAT_REQUEST_FIELDS)),
                requester=person,
                channel=Channel.CHAT,
            )
    except ValidationError as exc:
        return ephemeral("Could not open a request: " + _errors(exc))
    except PermissionDenied as exc:
        return ephemeral(f"Could not open a request: {exc}")
    return ephemeral(
        f"Opened {filed.reference}: {chat.escape(filed.subject)}. "
        f"<{chat.request_link(filed)}|View it in Gatehouse>; the help desk will answer there."
    )


def _errors(exc: ValidationError) -> str:
    if hasattr(exc, "error_dict"):
        return "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in exc.message_dict.items())
    return " ".join(exc.messages)


# --- inbound: the buttons ---------------------------------------------------------------------------------


@csrf_exempt
@require_POST
def slack_interactions(request):
    """The Acknowledge and Assign to me buttons of a request notification."""
    refused = verify_slack(request)
    if refused is not None:
        return refused
    try:
        payload = json.loads(request.POST.get("payload") or "")
    except ValueError:
        return HttpResponse("The payload is not JSON.", status=400, content_type="text/plain")
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        return HttpResponse(status=200)  # nothing Gatehouse answers (e.g. a shortcut): Slack wants a 200
    actions = [a for a in payload.get("actions") or [] if isinstance(a, dict)]
    # --- access approvals (issue 4, part B): Approve / Reject buttons on an access approval message.
    access_answer = _access_approval_action(payload, actions)
    if access_answer is not None:
        return access_answer
    # --- end access approvals
    action = next(
        (a for a in actions if a.get("action_id") in (chat.ACTION_ACKNOWLEDGE, chat.ACTION_ASSIGN_TO_ME)),
        None,
    )
    if action is None:
        return HttpResponse(status=200)  # e.g. the Open link button
    slack_user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    handle = slack_user.get("username") or slack_user.get("name") or ""
    person, why = match_person(handle)
    if person is None:
        return answer_button(payload, why)
    user = linked_user(person)
    if user is None:
        return answer_button(
            payload,
            f"@{person.handle} has no active Gatehouse sign-in, so cannot work requests. Nothing was done.",
        )
    try:
        request_id = int(str(action.get("value", "")))
    except ValueError:
        return answer_button(payload, "That button does not name a request. Nothing was done.")
    desk_request = Request.objects.select_related("queue", "queue__team").filter(pk=request_id).first()
    from gatehouse.desk import selectors, services

    if desk_request is None or not selectors.can_work(user, desk_request):
        ref = f"REQ-{request_id}"
        return answer_button(
            payload,
            f"You cannot work {ref}: it is not in a queue of your teams or a system you own. Nothing was done.",
        )
    label = _label(person.handle, slack_user.get("id", ""))
    try:
        with (
            context.change_context(source=Source.CHAT, actor=user, actor_label=label),
            transaction.atomic(),
        ):
            if action["action_id"] == chat.ACTION_ACKNOWLEDGE:
                if desk_request.status == Status.NEW:
                    desk_request = services.set_status(desk_request, actor=user, status=Status.TRIAGED)
                services.reply(
                    desk_request,
                    actor=user,
                    body=f"Acknowledged in chat by @{person.handle}.",
                    internal=True,
                    channel=Channel.CHAT,
                )
                text = f"{desk_request.reference} acknowledged by @{person.handle}."
            else:
                desk_request = services.assign(desk_request, actor=user, assignee=user)
                text = f"{desk_request.reference} assigned to @{person.handle}."
    except (ValidationError, PermissionDenied) as exc:
        detail = _errors(exc) if isinstance(exc, ValidationError) else str(exc)
        return answer_button(payload, f"Could not do that: {detail}")
    return answer_button(payload, text)


# --- access approvals (issue 4, part B) --------------------------------------------------------------------


def _access_approval_action(payload: dict, actions: list[dict]) -> JsonResponse | None:
    """Approve / Reject on an access approval message (gatehouse.access.requests.chat_payload), decided as the
    Slack user's linked Gatehouse user with channel "chat". None when the press is not one of those buttons."""
    from gatehouse.access import requests as access_requests

    action = next(
        (
            a
            for a in actions
            if a.get("action_id") in (access_requests.ACTION_APPROVE, access_requests.ACTION_REJECT)
        ),
        None,
    )
    if action is None:
        return None
    slack_user = payload.get("user") if isinstance(payload.get("user"), dict) else {}
    handle = slack_user.get("username") or slack_user.get("name") or ""
    person, why = match_person(handle)
    if person is None:
        return answer_button(payload, why)
    user = linked_user(person)
    if user is None:
        return answer_button(
            payload, f"@{person.handle} has no active Gatehouse sign-in, so cannot approve. Nothing was done."
        )
    try:
        step_id = int(str(action.get("value", "")))
        if not 0 < step_id < 2**63:
            raise ValueError
    except ValueError:
        return answer_button(payload, "That button does not name an approval step. Nothing was done.")
    from django.http import Http404

    try:
        step = access_requests.get_step(user, step_id)
    except Http404:
        return answer_button(payload, "You cannot see that access request. Nothing was done.")
    approve = action["action_id"] == access_requests.ACTION_APPROVE
    label = _label(person.handle, slack_user.get("id", ""))
    try:
        with context.change_context(source=Source.CHAT, actor=user, actor_label=label):
            access_requests.decide(step, actor=user, approve=approve, channel="chat")
    except access_requests.AlreadyDecided as exc:
        return answer_button(payload, exc.message)
    except PermissionDenied as exc:
        return answer_button(payload, f"You cannot decide this: {exc} Nothing was done.")
    except ValidationError as exc:
        return answer_button(payload, f"Could not do that: {_errors(exc)}")
    verb = "approved" if approve else "rejected"
    return answer_button(
        payload,
        f"{step.get_kind_display()} approval of {chat.escape(step.item.entitlement)} for "
        f"{chat.escape(step.item.subject)} {verb} by @{person.handle}.",
    )


# --- end access approvals


def answer_button(payload: dict, text: str) -> JsonResponse:
    """Slack shows nothing from a button's HTTP answer, so the text also goes to its response_url (by the
    worker); the JSON answer carries it for other Slack-compatible clients and for the logs."""
    response_url = payload.get("response_url")
    if isinstance(response_url, str) and chat.response_url_allowed(response_url):
        transaction.on_commit(lambda: chat.post_chat_response(response_url, text))
    return ephemeral(text, replace_original=False)


# --- admin pages: the delivery log ------------------------------------------------------------------------


class ChatDeliveryFilterSet(django_filters.FilterSet):
    state = django_filters.ChoiceFilter(choices=ChatDelivery.State.choices, empty_label="State: any")
    team = django_filters.CharFilter(field_name="team__slug", label="Team")
    event = django_filters.CharFilter(field_name="event", label="Event")

    class Meta:
        model = ChatDelivery
        fields = ["state", "team", "event"]


def _delivery_link(delivery: ChatDelivery):
    from django.utils.html import format_html

    return format_html('<a href="{}">#{}</a>', reverse("desk:chat_delivery", args=[delivery.pk]), delivery.pk)


def _delivery_request(delivery: ChatDelivery):
    from gatehouse.core.templatetags.gatehouse import EMPTY

    return f"REQ-{delivery.request_id}" if delivery.request_id else EMPTY


def _delivery_table():
    from gatehouse.core.tables import Column, Table
    from gatehouse.core.templatetags.gatehouse import object_link

    class ChatDeliveryTable(Table):
        columns = (
            Column("id", "Delivery", accessor=_delivery_link, order_by="id"),
            Column("created", "Queued", order_by="created"),
            Column(
                "team",
                "Team",
                accessor=lambda d: object_link(d.team) if d.team else "",
                order_by="team__name",
            ),
            Column("event", "Event", order_by="event"),
            Column("request", "Request", accessor=_delivery_request),
            Column("state", "State", accessor="get_state_display", order_by="state"),
            Column("attempts", "Attempts", order_by="attempts"),
            Column("last_status_code", "Last status"),
            Column("sent_at", "Sent", order_by="sent_at"),
        )
        default_order = "-id"

    return ChatDeliveryTable


def require_chat_admin(user, perm: str = "desk.view_chatdelivery") -> None:
    if not user.has_perm(perm):
        raise PermissionDenied


def _delivery_list_view():
    from gatehouse.core.views import ObjectListView

    class ChatDeliveryListView(ObjectListView):
        title = "Chat delivery log"
        permission = "desk.view_chatdelivery"
        filterset_class = ChatDeliveryFilterSet
        table_class = _delivery_table()
        template_name = "desk/chat/delivery_list.html"
        empty_message = "No chat delivery matches these filters."

        def get_queryset(self, request):
            return ChatDelivery.objects.select_related("team").defer("payload")

    return ChatDeliveryListView.as_view()


chat_deliveries = _delivery_list_view()


@login_required
def chat_delivery(request, pk: int):
    require_chat_admin(request.user)
    delivery = get_object_or_404(ChatDelivery.objects.select_related("team", "request"), pk=pk)
    return render(
        request,
        "desk/chat/delivery_detail.html",
        {
            "title": f"Chat delivery #{delivery.pk}",
            "delivery": delivery,
            "payload": json.dumps(delivery.payload, indent=2, ensure_ascii=False),
            "max_attempts": chat.max_attempts(),
            "can_resend": delivery.state == ChatDelivery.State.FAILED
            and request.user.has_perm("desk.change_chatwebhook"),
        },
    )


@login_required
@require_POST
def chat_delivery_resend(request, pk: int):
    require_chat_admin(request.user, "desk.change_chatwebhook")
    delivery = get_object_or_404(ChatDelivery, pk=pk)
    try:
        chat.resend_delivery(delivery, actor=request.user)
    except ValidationError as exc:
        messages.error(request, _errors(exc))
    else:
        messages.success(request, f"Delivery #{delivery.pk} is queued to be sent again.")
    return HttpResponseRedirect(reverse("desk:chat_delivery", args=[delivery.pk]))


# --- admin pages: webhooks per team -----------------------------------------------------------------------


@login_required
def chat_webhooks(request):
    require_chat_admin(request.user, "desk.change_chatwebhook")
    teams = Team.objects.order_by("name").prefetch_related(
        Prefetch("chat_webhook", queryset=ChatWebhook.objects.all())
    )
    rows = []
    for team in teams:
        webhook = getattr(team, "chat_webhook", None)
        rows.append(
            {"team": team, "webhook": webhook, "masked": chat.mask_url(webhook.url) if webhook else ""}
        )
    paginator = Paginator(rows, 100)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "desk/chat/webhook_list.html", {"title": "Chat webhooks", "page": page})


class WebhookForm(forms.Form):
    url = forms.URLField(
        label="Incoming webhook URL",
        max_length=500,
        required=False,
        assume_scheme="https",
        widget=forms.PasswordInput(attrs={"autocomplete": "off"}),
        help_text="Slack: the app's Incoming Webhooks page, e.g. https://hooks.slack.com/services/... "
        "Stored as a secret: it is never shown again.",
    )
    is_active = forms.BooleanField(label="Send notifications", required=False, initial=True)


@login_required
@require_http_methods(["GET", "POST"])
def chat_webhook(request, slug: str):
    """Set or rotate (a new URL), disable or enable a team's webhook. The URL is never sent back to a browser."""
    require_chat_admin(request.user, "desk.change_chatwebhook")
    team = get_object_or_404(Team, slug=slug)
    webhook = ChatWebhook.objects.filter(team=team).first()
    if request.method == "POST":
        form = WebhookForm(request.POST)
        action = request.POST.get("action", "save")
        if action in ("disable", "enable"):
            if webhook is None:
                messages.error(request, f"{team} has no chat webhook.")
            else:
                toggle = chat.disable_webhook if action == "disable" else chat.enable_webhook
                toggle(team, actor=request.user)
                messages.success(request, f"Chat notifications for {team} {action}d.")
            return HttpResponseRedirect(reverse("desk:chat_webhook", args=[team.slug]))
        if form.is_valid():
            url = form.cleaned_data["url"]
            if not url and webhook is None:
                form.add_error("url", "Enter the webhook URL.")
            else:
                try:
                    if url:
                        chat.set_webhook(
                            team, actor=request.user, url=url, is_active=form.cleaned_data["is_active"]
                        )
                    elif form.cleaned_data["is_active"] != webhook.is_active:
                        toggle = (
                            chat.enable_webhook if form.cleaned_data["is_active"] else chat.disable_webhook
                        )
                        toggle(team, actor=request.user)
                except ValidationError as exc:
                    apply_service_errors(form, exc)
                else:
                    messages.success(request, f"Chat webhook for {team} saved.")
                    return HttpResponseRedirect(reverse("desk:chat_webhooks"))
        status = 422
    else:
        form = WebhookForm(initial={"is_active": webhook.is_active if webhook else True})
        status = 200
    return render(
        request,
        "desk/chat/webhook_form.html",
        {
            "title": f"Chat webhook: {team}",
            "team": team,
            "webhook": webhook,
            "masked": chat.mask_url(webhook.url) if webhook else "",
            "form": form,
        },
        status=status,
    )
