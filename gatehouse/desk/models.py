"""The desk: request types, queues, routing rules, SLA calendars and policies, requests and their activity,
guides (tier 1) and chat delivery.

Every model is change-logged; writes go through gatehouse.desk.services (and its siblings), never .save().
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse

from gatehouse.catalog.models import System
from gatehouse.core.models import ChangeLoggedModel
from gatehouse.directory.models import Person, Team


def default_weekly_hours() -> dict[str, list[list[str]]]:
    """24x5: Monday 00:00 to Friday 24:00. Keys are ISO weekdays as text (1 Monday ... 7 Sunday)."""
    return {str(day): [["00:00", "24:00"]] for day in range(1, 6)}


class Priority(models.TextChoices):
    URGENT = "urgent", "Urgent"
    HIGH = "high", "High"
    NORMAL = "normal", "Normal"
    LOW = "low", "Low"


class Tier(models.IntegerChoices):
    SELF_SERVICE = 1, "Tier 1 (self-service)"
    HELPDESK = 2, "Tier 2 (helpdesk)"
    ENGINEERING = 3, "Tier 3 (engineers and system owners)"


class Status(models.TextChoices):
    NEW = "new", "New"
    TRIAGED = "triaged", "Triaged"
    IN_PROGRESS = "in_progress", "In progress"
    WAITING_ON_REQUESTER = "waiting_on_requester", "Waiting on requester"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


OPEN_STATUSES = (Status.NEW, Status.TRIAGED, Status.IN_PROGRESS, Status.WAITING_ON_REQUESTER)


class SlaState(models.TextChoices):
    OK = "ok", "On track"
    AT_RISK = "at_risk", "At risk"
    BREACHED = "breached", "Breached"
    MET = "met", "Met"
    NONE = "none", "No target"


class Channel(models.TextChoices):
    WEB = "web", "Web"
    API = "api", "API"
    CHAT = "chat", "Chat"
    EMAIL = "email", "Email"
    JOB = "job", "Automation"


class BusinessCalendar(ChangeLoggedModel):
    """Business hours in one time zone, with holidays. The SLA clock runs only inside them."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, unique=True)
    time_zone = models.CharField(max_length=64, default="UTC", help_text="IANA name, e.g. America/New_York.")
    weekly_hours = models.JSONField(
        default=default_weekly_hours,
        help_text='Per ISO weekday (1 Monday ... 7 Sunday), a list of ["HH:MM", "HH:MM"] spans; "24:00" ends a day.',
    )

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("desk:calendar", args=[self.slug])

    def clean(self) -> None:
        from gatehouse.desk.business_time import validate_calendar_spec

        validate_calendar_spec(self.time_zone, self.weekly_hours)


class Holiday(ChangeLoggedModel):
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.CASCADE, related_name="holidays")
    date = models.DateField()
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["date"]
        constraints = [models.UniqueConstraint(fields=["calendar", "date"], name="desk_holiday_unique_date")]

    def __str__(self) -> str:
        return f"{self.name} ({self.date:%Y-%m-%d})"


class SlaPolicy(ChangeLoggedModel):
    """Targets per priority (and optionally per tier), counted in the calendar's business time."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, unique=True)
    calendar = models.ForeignKey(BusinessCalendar, on_delete=models.PROTECT, related_name="policies")
    at_risk_percent = models.PositiveSmallIntegerField(default=80)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "SLA policies"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("desk:sla_policy", args=[self.slug])


class SlaTarget(ChangeLoggedModel):
    """First-response and resolution targets in business minutes. A target with a tier applies at that tier
    only and wins over the one without."""

    policy = models.ForeignKey(SlaPolicy, on_delete=models.CASCADE, related_name="targets")
    priority = models.CharField(max_length=10, choices=Priority.choices)
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, null=True, blank=True)
    first_response_minutes = models.PositiveIntegerField()
    resolution_minutes = models.PositiveIntegerField()

    class Meta:
        ordering = ["policy", "priority", "tier"]
        constraints = [
            models.UniqueConstraint(fields=["policy", "priority", "tier"], name="desk_slatarget_unique"),
        ]

    def __str__(self) -> str:
        tier = f" tier {self.tier}" if self.tier else ""
        return f"{self.policy}: {self.priority}{tier}"


class Queue(ChangeLoggedModel):
    """Where requests wait for an agent. Its agents are the members of its team who have a sign-in."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, unique=True)
    team = models.ForeignKey(Team, on_delete=models.PROTECT, related_name="queues", null=True, blank=True)
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.HELPDESK)
    is_triage = models.BooleanField(default=False, help_text="Requests that match no system land here.")
    round_robin = models.BooleanField(
        default=False, help_text="Assign new requests to the queue's agents in turn."
    )
    last_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    audit_exclude = ("created", "last_updated", "last_assignee")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("desk:queue", args=[self.slug])


class RequestType(ChangeLoggedModel):
    """A kind of request: its form, default priority, SLA policy and where it goes when no rule says."""

    class SystemField(models.TextChoices):
        REQUIRED = "required", "Required"
        OPTIONAL = "optional", "Optional"
        HIDDEN = "hidden", "Not asked"

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    form_schema = models.JSONField(
        default=list,
        blank=True,
        help_text="The form's fields: a list of {name, label, type, required, choices, help_text}. "
        "Types: text, textarea, choice, multichoice, boolean, date, email, person.",
    )
    system_field = models.CharField(max_length=10, choices=SystemField.choices, default=SystemField.OPTIONAL)
    default_priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    sla_policy = models.ForeignKey(SlaPolicy, on_delete=models.PROTECT, null=True, blank=True)
    default_queue = models.ForeignKey(
        Queue, on_delete=models.PROTECT, null=True, blank=True, help_text="Blank: the triage queue."
    )
    is_active = models.BooleanField(default=True)
    position = models.PositiveSmallIntegerField(default=100)

    class Meta:
        ordering = ["position", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from gatehouse.desk.forms_schema import validate_form_schema

        validate_form_schema(self.form_schema)


class RoutingRule(ChangeLoggedModel):
    """Ordered data: the first active rule whose condition matches a new request applies its actions.

    condition: {"all": [...]} / {"any": [...]} / {"not": {...}} of leaves {"field": "type", "op": "eq", "value":
    "access-request"} (gatehouse.core.conditions). actions: {"queue": slug, "priority": p, "labels": [...],
    "assignee": username}.
    """

    name = models.CharField(max_length=200, unique=True)
    position = models.PositiveIntegerField(default=100, help_text="Lower runs first.")
    is_active = models.BooleanField(default=True)
    condition = models.JSONField(default=dict, blank=True)
    actions = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from gatehouse.desk.routing import validate_rule

        validate_rule(self.condition, self.actions)


class Request(ChangeLoggedModel):
    request_type = models.ForeignKey(RequestType, on_delete=models.PROTECT, related_name="requests")
    subject = models.CharField(max_length=250)
    description = models.TextField(blank=True)
    fields = models.JSONField(default=dict, blank=True, help_text="The answers to the type's form.")
    system = models.ForeignKey(
        System, on_delete=models.PROTECT, null=True, blank=True, related_name="requests"
    )
    requester = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="desk_requests")
    filed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)
    queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="requests")
    tier = models.PositiveSmallIntegerField(choices=Tier.choices, default=Tier.HELPDESK)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.NEW)
    priority = models.CharField(max_length=10, choices=Priority.choices, default=Priority.NORMAL)
    labels = models.JSONField(default=list, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="desk_assigned",
    )
    watchers = models.ManyToManyField(Person, blank=True, related_name="watched_requests")
    routing_rule = models.ForeignKey(RoutingRule, on_delete=models.SET_NULL, null=True, blank=True)
    routing_note = models.CharField(max_length=300, blank=True, help_text="Why it went where it went.")

    # The SLA clock. Due and warning times are wall-clock instants computed from business time, so the
    # scheduled job finds what to flag with an indexed comparison.
    sla_policy = models.ForeignKey(SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True)
    first_response_due = models.DateTimeField(null=True, blank=True, db_index=True)
    first_response_warn_at = models.DateTimeField(null=True, blank=True)
    first_responded_at = models.DateTimeField(null=True, blank=True)
    first_response_state = models.CharField(max_length=10, choices=SlaState.choices, default=SlaState.NONE)
    resolution_due = models.DateTimeField(null=True, blank=True, db_index=True)
    resolution_warn_at = models.DateTimeField(null=True, blank=True)
    resolution_state = models.CharField(max_length=10, choices=SlaState.choices, default=SlaState.NONE)
    paused_at = models.DateTimeField(null=True, blank=True, help_text="Set while waiting on the requester.")
    paused_seconds = models.PositiveIntegerField(default=0, help_text="Business seconds spent paused so far.")
    # What the SLA job has already announced, e.g. {"resolution": "at_risk"}: it notifies once per state,
    # and only inside the calendar's hours.
    sla_notified = models.JSONField(default=dict, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["queue", "status", "-id"], name="desk_request_queue_idx"),
            models.Index(fields=["requester", "-id"], name="desk_request_requester_idx"),
            models.Index(fields=["status", "-id"], name="desk_request_status_idx"),
            models.Index(fields=["created"], name="desk_request_created_idx"),
            # part B (SLA): the scheduled job's range scans, state first so only running clocks are read
            models.Index(
                fields=["first_response_state", "first_response_warn_at"], name="desk_req_fr_warn_idx"
            ),
            models.Index(fields=["first_response_state", "first_response_due"], name="desk_req_fr_due_idx"),
            models.Index(fields=["resolution_state", "resolution_warn_at"], name="desk_req_res_warn_idx"),
            models.Index(fields=["resolution_state", "resolution_due"], name="desk_req_res_due_idx"),
        ]
        # Part A: agents (helpdesk analysts, engineers) work requests in the queues of their teams.
        permissions = [("work_request", "Can work requests in the queues of their teams")]

    def __str__(self) -> str:
        return f"{self.reference}: {self.subject}"

    @property
    def reference(self) -> str:
        return f"REQ-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    def get_absolute_url(self) -> str:
        return reverse("desk:request", args=[self.pk])

    audit_exclude = ("created", "last_updated", "sla_notified")


class Comment(ChangeLoggedModel):
    """A public reply (the requester sees it) or an internal note (agents only)."""

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="comments")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    author_person = models.ForeignKey(
        Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    body = models.TextField()
    is_internal = models.BooleanField(default=False)
    channel = models.CharField(max_length=10, choices=Channel.choices, default=Channel.WEB)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        kind = "note" if self.is_internal else "reply"
        return f"{kind} on REQ-{self.request_id}"


def attachment_path(instance: Attachment, filename: str) -> str:
    return f"desk/attachments/{instance.request_id}/{filename}"


class Attachment(ChangeLoggedModel):
    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="attachments")
    comment = models.ForeignKey(
        Comment, on_delete=models.SET_NULL, null=True, blank=True, related_name="attachments"
    )
    file = models.FileField(upload_to=attachment_path, max_length=300)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return self.name


class Escalation(ChangeLoggedModel):
    """A move between tiers or queues, with who moved it and why: the request's escalation history."""

    class Kind(models.TextChoices):
        ESCALATE = "escalate", "Escalated"
        REROUTE = "reroute", "Re-routed"
        SLA = "sla", "Escalated by the SLA job"

    request = models.ForeignKey(Request, on_delete=models.CASCADE, related_name="escalations")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    from_tier = models.PositiveSmallIntegerField(choices=Tier.choices)
    to_tier = models.PositiveSmallIntegerField(choices=Tier.choices)
    from_queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    to_queue = models.ForeignKey(Queue, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField()
    by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)

    class Meta:
        ordering = ["created", "id"]

    def __str__(self) -> str:
        return f"REQ-{self.request_id}: {self.get_kind_display()} to tier {self.to_tier}"


class Guide(ChangeLoggedModel):
    """Tier 1: a guide or runbook in Markdown, rendered safely (no raw HTML survives)."""

    slug = models.SlugField(max_length=150, unique=True)
    title = models.CharField(max_length=250)
    summary = models.CharField(max_length=500, blank=True)
    body = models.TextField(help_text="Markdown. Raw HTML is shown as text, never run.")
    systems = models.ManyToManyField(System, blank=True, related_name="guides")
    request_types = models.ManyToManyField(RequestType, blank=True, related_name="guides")
    is_published = models.BooleanField(default=True)

    class Meta:
        ordering = ["title"]

    def __str__(self) -> str:
        return self.title

    def get_absolute_url(self) -> str:
        return reverse("desk:guide", args=[self.slug])


class Deflection(ChangeLoggedModel):
    """ "This solved it": a guide answered what would have been a request."""

    guide = models.ForeignKey(Guide, on_delete=models.CASCADE, related_name="deflections")
    person = models.ForeignKey(Person, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    request_type = models.ForeignKey(RequestType, on_delete=models.SET_NULL, null=True, blank=True)
    system = models.ForeignKey(System, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    subject = models.CharField(max_length=250, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["created"], name="desk_deflection_created_idx")]

    def __str__(self) -> str:
        return f"{self.guide} solved '{self.subject}'"


class ChatWebhook(ChangeLoggedModel):
    """A Slack-compatible incoming webhook for one team's chat. The URL is a secret: never shown in full,
    never logged, and left out of the audit trail."""

    team = models.OneToOneField(Team, on_delete=models.CASCADE, related_name="chat_webhook")
    url = models.URLField(max_length=500)
    is_active = models.BooleanField(default=True)
    audit_exclude = ("created", "last_updated", "url")

    def __str__(self) -> str:
        return f"webhook for {self.team}"

    def clean(self) -> None:
        if self.url and not self.url.startswith(("https://", "http://")):
            raise ValidationError({"url": "Must be an http(s) address."})


class ChatDelivery(models.Model):
    """The delivery log of outgoing chat notifications. Bookkeeping written by the worker, not audited as a
    change: each attempt updates the row."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        RETRYING = "retrying", "Retrying"
        FAILED = "failed", "Failed"

    created = models.DateTimeField(auto_now_add=True, db_index=True)
    team = models.ForeignKey(Team, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    request = models.ForeignKey(Request, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    event = models.CharField(max_length=50)
    payload = models.JSONField()
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "chat deliveries"

    def __str__(self) -> str:
        return f"{self.event} to {self.team or 'no team'}: {self.state}"
