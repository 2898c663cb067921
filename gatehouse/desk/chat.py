"""Chat: outgoing notifications to a team's Slack-compatible incoming webhook, and the webhook settings.

`notify_team` writes a ChatDelivery row and queues the send for after the commit; the worker job
`deliver_chat` makes one attempt per run and schedules the next one itself (exponential backoff, or the
receiver's Retry-After on 429), recording every attempt in the row, which is the delivery log admins read.

The webhook URL is a secret (it is the only credential an incoming webhook has): it is read from the team's
ChatWebhook at send time, and never written to a log, an error text or the audit trail. Errors are redacted
before they are stored.
"""

from __future__ import annotations

import datetime
import email.utils
import json
import logging
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.jobs import job
from gatehouse.core.permissions import require
from gatehouse.core.services import create_object, update_object
from gatehouse.desk.models import ChatDelivery, ChatWebhook, Request
from gatehouse.directory.models import Team

logger = logging.getLogger(__name__)

# Action ids of the buttons on a request notification (desk/chat_views.py answers them).
ACTION_ACKNOWLEDGE = "gatehouse_acknowledge"
ACTION_ASSIGN_TO_ME = "gatehouse_assign_to_me"
ACTION_OPEN = "gatehouse_open"

# Defaults; settings may override them (tests set the delays to zero and the timeout short).
DEFAULT_RETRY_DELAYS = (30, 60, 120, 240)  # seconds before attempts 2, 3, 4 and 5
DEFAULT_TIMEOUT = 10.0  # seconds per attempt
DEFAULT_MAX_RETRY_AFTER = 3600  # a receiver's Retry-After is honoured up to an hour

REDACTED = "[webhook URL]"


def retry_delays() -> tuple[float, ...]:
    return tuple(getattr(settings, "CHAT_RETRY_DELAYS", DEFAULT_RETRY_DELAYS))


def max_attempts() -> int:
    return len(retry_delays()) + 1


def base_url() -> str:
    return getattr(settings, "BASE_URL", "http://127.0.0.1:8000").rstrip("/")


# --- outgoing ---------------------------------------------------------------------------------------------


def notify_team(team: Team | None, event: str, request: Request | None, text: str) -> ChatDelivery | None:
    """Queue a chat notification to the team's webhook, sent by the worker after the commit.

    Returns the delivery (state pending), or None when the team has no active webhook (nothing is written).
    """
    if not event or len(event) > ChatDelivery._meta.get_field("event").max_length:
        raise ValueError("event must be a short non-empty name, e.g. 'request.created'")
    if team is None:
        return None
    webhook = ChatWebhook.objects.filter(team=team, is_active=True).only("pk").first()
    if webhook is None:
        return None
    delivery = ChatDelivery.objects.create(
        team=team, request=request, event=event, payload=build_payload(event, request, text)
    )
    transaction.on_commit(lambda: deliver_chat(delivery.pk))
    return delivery


def escape(text: str) -> str:
    """Slack's mrkdwn control characters; escaping < and > also keeps <!channel> and links out of user text."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def request_link(request: Request) -> str:
    return f"{base_url()}{request.get_absolute_url()}"


def build_payload(event: str, request: Request | None, text: str) -> dict[str, Any]:
    """The Slack-compatible message: a plain `text` fallback plus blocks (the request, a link, the buttons)."""
    if request is None:
        return {
            "text": text,
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}}],
        }
    link = request_link(request)
    reference = request.reference
    details = [
        f"*Type:* {escape(request.request_type.name)}",
        f"*Priority:* {escape(request.get_priority_display())}",
        f"*Status:* {escape(request.get_status_display())}",
    ]
    if request.system_id:
        details.append(f"*System:* {escape(request.system.name)}")
    return {
        "text": f"{reference}: {request.subject} ({text}) {link}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"*<{link}|{reference}>* {escape(request.subject)}\n{escape(text)}",
                },
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": " | ".join(details)}]},
            {
                "type": "actions",
                "block_id": f"gatehouse-request-{request.pk}",
                "elements": [
                    {
                        "type": "button",
                        "action_id": ACTION_ACKNOWLEDGE,
                        "text": {"type": "plain_text", "text": "Acknowledge"},
                        "value": str(request.pk),
                    },
                    {
                        "type": "button",
                        "action_id": ACTION_ASSIGN_TO_ME,
                        "text": {"type": "plain_text", "text": "Assign to me"},
                        "value": str(request.pk),
                    },
                    {
                        "type": "button",
                        "action_id": ACTION_OPEN,
                        "text": {"type": "plain_text", "text": f"Open {reference}"},
                        "url": link,
                    },
                ],
            },
        ],
        "metadata": {"event_type": event.replace(".", "_"), "event_payload": {"request_id": request.pk}},
    }


@dataclass
class Outcome:
    status_code: int | None
    error: str  # redacted
    retry: bool
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A webhook answers directly; a redirect is reported, never followed (it would re-send the secret)."""

    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def redact(text: str, url: str) -> str:
    """The error text with the URL and its secret path removed (receivers and libraries may echo either)."""
    text = str(text)
    if not url:
        return text
    parts = urlsplit(url)
    for secret in (url, url.rstrip("/"), parts.path + (f"?{parts.query}" if parts.query else ""), parts.path):
        if secret and secret != "/":
            text = text.replace(secret, REDACTED)
    return text


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - timezone.now()).total_seconds())


def post(url: str, payload: dict[str, Any], timeout: float) -> Outcome:
    """One POST of the payload. Never raises for network trouble; the outcome says whether to retry."""
    body = json.dumps(payload).encode()
    http_request = urllib.request.Request(
        url,
        data=body,
        method="POST",
        headers={"Content-Type": "application/json; charset=utf-8", "User-Agent": "Gatehouse"},
    )
    try:
        with _opener.open(http_request, timeout=timeout) as response:
            response.read(1024)
            return Outcome(response.status, "", retry=False)
    except urllib.error.HTTPError as exc:
        status = exc.code
        try:
            detail = exc.read(200).decode("utf-8", "replace").strip()
        except Exception:  # the body is only a hint for the log
            detail = ""
        finally:
            exc.close()
        error = redact(f"HTTP {status} {exc.reason}" + (f": {detail}" if detail else ""), url)
        if status == 429:
            return Outcome(
                status, error, retry=True, retry_after=parse_retry_after(exc.headers.get("Retry-After"))
            )
        if status >= 500:
            return Outcome(status, error, retry=True)
        if 300 <= status < 400:
            return Outcome(
                status, redact(f"HTTP {status}: the webhook redirected; not followed", url), retry=False
            )
        return Outcome(status, error, retry=False)
    except TimeoutError:
        return Outcome(None, f"No answer within {timeout:g}s (timed out)", retry=True)
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            return Outcome(None, f"No answer within {timeout:g}s (timed out)", retry=True)
        return Outcome(None, redact(f"Connection failed: {reason}", url), retry=True)
    except (ConnectionError, OSError) as exc:
        return Outcome(None, redact(f"Connection failed: {exc}", url), retry=True)
    except ValueError as exc:  # a URL urllib cannot use; retrying will not help
        return Outcome(None, redact(f"Unusable webhook URL: {exc}", url), retry=False)


@job()
def deliver_chat(delivery_id: int) -> str | None:
    """One attempt at a delivery; on a retryable failure it schedules the next attempt itself."""
    state, delay = attempt_delivery(delivery_id)
    if state == ChatDelivery.State.RETRYING and delay is not None:
        if delay <= 0:
            deliver_chat(delivery_id)
        else:
            deliver_chat.schedule(args=(delivery_id,), delay=delay)
    return state


def attempt_delivery(delivery_id: int) -> tuple[str | None, float | None]:
    """Make one attempt and record it. Returns the new state and, when retrying, the delay before the next.

    The attempt is claimed with a conditional update, so two workers never send the same attempt twice.
    """
    delivery = ChatDelivery.objects.filter(pk=delivery_id).select_related("team").first()
    if delivery is None or delivery.state not in (ChatDelivery.State.PENDING, ChatDelivery.State.RETRYING):
        return (delivery.state if delivery else None), None
    attempt = delivery.attempts + 1
    claimed = ChatDelivery.objects.filter(
        pk=delivery.pk, attempts=delivery.attempts, state=delivery.state
    ).update(attempts=attempt)
    if not claimed:
        return None, None
    delivery.attempts = attempt
    webhook = ChatWebhook.objects.filter(team_id=delivery.team_id).first() if delivery.team_id else None
    now = timezone.now
    if webhook is None or not webhook.is_active:
        why = "the team has no webhook any more" if webhook is None else "the team's webhook is disabled"
        _record(delivery, ChatDelivery.State.FAILED, None, f"Not sent: {why}.", None)
        logger.warning("Chat delivery %s not sent: %s", delivery.pk, why)
        return ChatDelivery.State.FAILED, None

    timeout = float(getattr(settings, "CHAT_WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT))
    outcome = post(webhook.url, delivery.payload, timeout)
    if outcome.ok:
        _record(delivery, ChatDelivery.State.SENT, outcome.status_code, "", None, sent_at=now())
        logger.info("Chat delivery %s (%s) sent on attempt %s", delivery.pk, delivery.event, attempt)
        return ChatDelivery.State.SENT, None
    delays = retry_delays()
    if outcome.retry and attempt < len(delays) + 1:
        delay = float(delays[attempt - 1])
        if outcome.retry_after is not None:
            delay = min(
                outcome.retry_after, float(getattr(settings, "CHAT_MAX_RETRY_AFTER", DEFAULT_MAX_RETRY_AFTER))
            )
        next_at = now() + datetime.timedelta(seconds=delay)
        _record(delivery, ChatDelivery.State.RETRYING, outcome.status_code, outcome.error, next_at)
        logger.warning(
            "Chat delivery %s attempt %s failed (%s); retrying in %gs",
            delivery.pk,
            attempt,
            outcome.error,
            delay,
        )
        return ChatDelivery.State.RETRYING, delay
    _record(delivery, ChatDelivery.State.FAILED, outcome.status_code, outcome.error, None)
    logger.warning("Chat delivery %s failed for good on attempt %s (%s)", delivery.pk, attempt, outcome.error)
    return ChatDelivery.State.FAILED, None


def _record(delivery, state, status_code, error, next_attempt_at, sent_at=None) -> None:
    delivery.state = state
    delivery.last_status_code = status_code
    delivery.last_error = error[: ChatDelivery._meta.get_field("last_error").max_length]
    delivery.next_attempt_at = next_attempt_at
    fields = ["state", "last_status_code", "last_error", "next_attempt_at"]
    if sent_at is not None:
        delivery.sent_at = sent_at
        fields.append("sent_at")
    # Bookkeeping, not a change: ChatDelivery is the log itself and is not change-logged.
    ChatDelivery.objects.filter(pk=delivery.pk).update(**{name: getattr(delivery, name) for name in fields})


def response_url_allowed(url: str) -> bool:
    """Slack's response_url for a button press; only Slack's own hosts (settings may add a local one for tests)."""
    prefixes = tuple(getattr(settings, "SLACK_RESPONSE_URL_PREFIXES", ("https://hooks.slack.com/",)))
    return bool(url) and url.startswith(prefixes)


@job()
def post_chat_response(response_url: str, text: str) -> None:
    """Tell the person who pressed a button what happened (Slack ignores the body of the button's answer).

    One attempt: the answer is a courtesy and the response_url expires within half an hour.
    """
    if not response_url_allowed(response_url):
        return
    payload = {"response_type": "ephemeral", "replace_original": False, "text": text}
    outcome = post(response_url, payload, float(getattr(settings, "CHAT_WEBHOOK_TIMEOUT", DEFAULT_TIMEOUT)))
    if not outcome.ok:
        logger.warning("Could not answer a Slack button press: %s", redact(outcome.error, response_url))


def resend_delivery(delivery: ChatDelivery, *, actor) -> ChatDelivery:
    """Send a failed delivery again (a fresh round of attempts). Admins only; audited."""
    require(actor, "desk.change_chatwebhook")
    if delivery.state != ChatDelivery.State.FAILED:
        raise ValidationError({"state": "Only a failed delivery can be sent again."})
    with transaction.atomic():
        previous = {"state": delivery.state, "attempts": delivery.attempts}
        delivery.state = ChatDelivery.State.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = None
        delivery.save(update_fields=["state", "attempts", "next_attempt_at"])
        record_events(
            [
                EventDraft(
                    action=AuditAction.UPDATE,
                    object_type=ChatDelivery._meta.label_lower,
                    object_id=str(delivery.pk),
                    object_repr=str(delivery)[:200],
                    changes={
                        "state": [previous["state"], delivery.state],
                        "attempts": [previous["attempts"], 0],
                        "resent": [None, True],
                    },
                )
            ]
        )
        delivery_id = delivery.pk
        transaction.on_commit(lambda: deliver_chat(delivery_id))
    return delivery


# --- webhook settings -------------------------------------------------------------------------------------


def mask_url(url: str) -> str:
    """Scheme and host, then the last four characters: enough to tell two webhooks apart, useless to a thief."""
    if not url:
        return ""
    parts = urlsplit(url)
    tail = url[-4:] if len(url) > 12 else ""
    return f"{parts.scheme}://{parts.hostname or ''}/…{tail}"


def _validate_url(url: str) -> str:
    url = (url or "").strip()
    probe = ChatWebhook(url=url)
    try:
        probe.clean_fields(exclude=[f.name for f in ChatWebhook._meta.fields if f.name != "url"])
        probe.clean()
    except ValidationError as exc:
        # Django's messages never echo the value, but make sure: the URL is a secret.
        messages = exc.message_dict.get("url", ["Enter a valid URL."])
        raise ValidationError({"url": [redact(m, url) for m in messages]}) from None
    return url


def _url_writer(url: str, rotated: bool):
    """Writes the URL (left out of the audit trail) and records only that it changed."""

    def write(webhook: ChatWebhook) -> dict[str, list[Any]]:
        ChatWebhook.objects.filter(pk=webhook.pk).update(url=url, last_updated=timezone.now())
        return {"url": ["(hidden)", "(hidden, rotated)"]} if rotated else {}

    return write


def set_webhook(team: Team, *, actor, url: str, is_active: bool = True) -> ChatWebhook:
    """Set (or rotate, when one exists) the team's webhook URL; it is enabled unless told otherwise."""
    require(actor, "desk.change_chatwebhook")
    url = _validate_url(url)
    existing = ChatWebhook.objects.filter(team=team).first()
    if existing is None:
        require(actor, "desk.add_chatwebhook")
        webhook = create_object(ChatWebhook, fields={"team": team, "url": url, "is_active": is_active})
        return webhook
    rotated = existing.url != url
    existing.url = url
    webhook, _ = update_object(
        existing, fields={"is_active": is_active}, related=_url_writer(url, rotated) if rotated else None
    )
    return webhook


def disable_webhook(team: Team, *, actor) -> ChatWebhook:
    require(actor, "desk.change_chatwebhook")
    webhook = ChatWebhook.objects.filter(team=team).first()
    if webhook is None:
        raise ValidationError({"team": f"{team} has no chat webhook."})
    webhook, _ = update_object(webhook, fields={"is_active": False})
    return webhook


def enable_webhook(team: Team, *, actor) -> ChatWebhook:
    require(actor, "desk.change_chatwebhook")
    webhook = ChatWebhook.objects.filter(team=team).first()
    if webhook is None:
        raise ValidationError({"team": f"{team} has no chat webhook."})
    webhook, _ = update_object(webhook, fields={"is_active": True})
    return webhook
