"""The access lifecycle: entitlements and grants, access requests and their approvals, fulfilment tasks,
joiners, movers and leavers, and access review campaigns.

Every model is change-logged; writes go through the services of this app, never .save().
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse

from gatehouse.catalog.models import System
from gatehouse.core.models import ChangeLoggedModel
from gatehouse.directory.models import Person


class Privilege(models.TextChoices):
    STANDARD = "standard", "Standard"
    ADMIN = "admin", "Admin"


class ApprovalPolicy(models.TextChoices):
    DEFAULT = "default", "Manager, then system owner"
    OWNER_ONLY = "owner_only", "System owner only"
    MANAGER_ONLY = "manager_only", "Manager only"
    NONE = "none", "No approval (baseline, chat and mail groups)"


class Connector(models.TextChoices):
    NONE = "", "By hand"
    OKTA = "okta", "Okta group"
    GOOGLE = "google", "Google Workspace group"
    GITLAB = "gitlab", "GitLab group"


class Entitlement(ChangeLoggedModel):
    """A role or group inside a system (an Okta group, a GitLab group role)."""

    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="entitlements")
    slug = models.SlugField(max_length=100)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    privilege = models.CharField(max_length=10, choices=Privilege.choices, default=Privilege.STANDARD)
    is_requestable = models.BooleanField(default=True)
    is_baseline = models.BooleanField(default=False, help_text="Every team member gets it when they join.")
    max_duration_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Grants end after at most this many days; blank: no limit."
    )
    approval_policy = models.CharField(
        max_length=20, choices=ApprovalPolicy.choices, default=ApprovalPolicy.DEFAULT
    )
    owner = models.ForeignKey(
        Person,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_entitlements",
        help_text="Entitlement owner: reviews it when campaigns ask for the entitlement owner.",
    )
    connector = models.CharField(max_length=10, choices=Connector.choices, default=Connector.NONE, blank=True)
    external_id = models.CharField(
        max_length=300,
        blank=True,
        help_text="The group in the connected system: Okta group id, Google group email, GitLab group path.",
    )
    external_role = models.CharField(
        max_length=50,
        blank=True,
        help_text="GitLab: the access level (guest, reporter, developer, maintainer, owner).",
    )

    class Meta:
        ordering = ["system__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["system", "slug"], name="access_entitlement_unique_slug")
        ]

    def __str__(self) -> str:
        return f"{self.system.name}: {self.name}"

    def get_absolute_url(self) -> str:
        return reverse("access:entitlement", args=[self.pk])

    @property
    def is_admin(self) -> bool:
        return self.privilege == Privilege.ADMIN


class GrantSource(models.TextChoices):
    REQUEST = "request", "Access request"
    BASELINE = "baseline", "Baseline"
    BUNDLE = "bundle", "Department or role bundle"
    IMPORT = "import", "Import"
    SYNC = "sync", "Connector sync"
    REVIEW = "review", "Access review (modify)"


class Grant(ChangeLoggedModel):
    """A person holds an entitlement. Grants are ended, never deleted."""

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="grants")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="grants")
    source = models.CharField(max_length=10, choices=GrantSource.choices)
    started_at = models.DateTimeField()
    ends_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Time-bound access ends here."
    )
    ended_at = models.DateTimeField(null=True, blank=True, db_index=True)
    ended_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    end_reason = models.CharField(max_length=300, blank=True)
    do_not_renew = models.BooleanField(default=False)
    last_used_at = models.DateTimeField(null=True, blank=True, help_text="Where the connector knows it.")
    request_item = models.ForeignKey(
        "AccessRequestItem", on_delete=models.SET_NULL, null=True, blank=True, related_name="grants"
    )
    # Expiry warnings already sent, e.g. {"week": "2026-12-01T...", "day": ...}: bookkeeping, not audited.
    warnings_sent = models.JSONField(default=dict, blank=True)
    audit_exclude = ("created", "last_updated", "warnings_sent")

    class Meta:
        ordering = ["-started_at", "id"]
        constraints = [
            # One live grant per person and entitlement; ended ones stay as history.
            models.UniqueConstraint(
                fields=["person", "entitlement"],
                condition=Q(ended_at__isnull=True),
                name="access_grant_one_live",
            )
        ]
        indexes = [models.Index(fields=["entitlement", "ended_at"], name="access_grant_ent_idx")]

    def __str__(self) -> str:
        return f"{self.person} holds {self.entitlement}"

    @property
    def is_active(self) -> bool:
        return self.ended_at is None


class AccessRequest(ChangeLoggedModel):
    """Access for one or more people to one or more entitlements; it is a desk request of type access-request,
    so it keeps that request's queue, SLA and chat."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Closed after 30 days"
        FULFILLED = "fulfilled", "Fulfilled"

    desk_request = models.OneToOneField(
        "desk.Request", on_delete=models.PROTECT, null=True, blank=True, related_name="access_request"
    )
    requested_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="access_requests_filed")
    filed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    justification = models.TextField()
    duration_days = models.PositiveIntegerField(null=True, blank=True)
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"AR-{self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("access:request", args=[self.pk])


class AccessRequestItem(ChangeLoggedModel):
    """One person and one entitlement of a request: each has its own approval steps."""

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for approval"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        CANCELLED = "cancelled", "Cancelled"
        FULFILLED = "fulfilled", "Fulfilled"

    access_request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="items")
    subject = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="access_request_items")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="request_items")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    ends_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.subject} -> {self.entitlement}"


class ApprovalStep(ChangeLoggedModel):
    class Kind(models.TextChoices):
        MANAGER = "manager", "Manager"
        SYSTEM_OWNER = "system_owner", "System owner"

    class Decision(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        REJECTED = "rejected", "Rejected"
        SKIPPED = "skipped", "Not needed"

    item = models.ForeignKey(AccessRequestItem, on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=10, blank=True, help_text="web, api, email or chat")
    comment = models.TextField(blank=True)
    # Email links carry this nonce; deciding clears it, so a link works once.
    link_nonce = models.CharField(max_length=64, blank=True)
    audit_exclude = ("created", "last_updated", "link_nonce")

    class Meta:
        ordering = ["item", "position"]
        constraints = [
            models.UniqueConstraint(fields=["item", "position"], name="access_step_unique_position")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} approval of {self.item}"


class FulfilmentTask(ChangeLoggedModel):
    """Grant or revoke an entitlement in its system: by a connector, or by a provisioner by hand with evidence."""

    class Kind(models.TextChoices):
        GRANT = "grant", "Grant"
        REVOKE = "revoke", "Revoke"

    class State(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"
        MANUAL = "manual", "Needs manual work"

    class Reason(models.TextChoices):
        REQUEST = "request", "Access request"
        JOINER = "joiner", "Joiner"
        MOVER = "mover", "Mover"
        LEAVER = "leaver", "Leaver"
        EXPIRY = "expiry", "Time-bound access ended"
        REVIEW = "review", "Access review"

    kind = models.CharField(max_length=10, choices=Kind.choices)
    reason = models.CharField(max_length=10, choices=Reason.choices)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="fulfilment_tasks")
    entitlement = models.ForeignKey(Entitlement, on_delete=models.PROTECT, related_name="fulfilment_tasks")
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, null=True, blank=True, related_name="tasks")
    request_item = models.ForeignKey(
        AccessRequestItem, on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    review_item = models.ForeignKey(
        "ReviewItem", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    lifecycle_event = models.ForeignKey(
        "LifecycleEvent", on_delete=models.SET_NULL, null=True, blank=True, related_name="tasks"
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN, db_index=True)
    due_at = models.DateTimeField(null=True, blank=True, db_index=True)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True)
    evidence = models.TextField(
        blank=True, help_text="What was done, by whom, with a ticket or screenshot link."
    )
    connector_result = models.TextField(
        blank=True, help_text="What the connector answered, or why it failed."
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    security_flag = models.BooleanField(
        default=False, help_text="Admin-level access granted: security looks."
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["state", "due_at"], name="access_task_state_due_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.entitlement} for {self.person}"

    def get_absolute_url(self) -> str:
        return reverse("access:task", args=[self.pk])


class Bundle(ChangeLoggedModel):
    """Entitlements a joiner receives for their department or title (role), on top of the baseline."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, unique=True)
    department = models.CharField(max_length=200, blank=True)
    title = models.CharField(max_length=200, blank=True, help_text="Role: matches the person's title.")
    entitlements = models.ManyToManyField(Entitlement, blank=True, related_name="bundles")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:  # part A
        return reverse("access:bundle", args=[self.pk])


class LifecycleEvent(ChangeLoggedModel):
    """A joiner, mover or leaver, detected from a directory change (import_people or the API)."""

    class Kind(models.TextChoices):
        JOINER = "joiner", "Joiner"
        MOVER = "mover", "Mover"
        LEAVER = "leaver", "Leaver"

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="lifecycle_events")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    details = models.JSONField(
        default=dict, blank=True, help_text="What changed, e.g. the old and new department."
    )
    effective_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-effective_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.person}"


class ReviewScope(models.TextChoices):
    ALL = "all", "All grants of the systems in scope"
    PRIVILEGED = "privileged", "Privileged (admin-level) grants only"
    TERMINATED = "terminated", "Grants still held by people who left"


class Reviewer(models.TextChoices):
    SYSTEM_OWNER = "system_owner", "System owner"
    MANAGER = "manager", "Manager"
    ENTITLEMENT_OWNER = "entitlement_owner", "Entitlement owner"


class UndecidedRule(models.TextChoices):
    KEEP = "keep", "Keep the access"
    REVOKE = "revoke", "Revoke the access"
    ESCALATE = "escalate", "Leave open and escalate to the fallback reviewer"


class ReviewTemplate(ChangeLoggedModel):
    """A recurring access review: what it covers, who reviews and how often."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, unique=True)
    scope = models.CharField(max_length=12, choices=ReviewScope.choices, default=ReviewScope.ALL)
    tiers = models.JSONField(
        default=list, blank=True, help_text="System tiers in scope, e.g. [1, 2]; empty: any."
    )
    compliance_scopes = models.JSONField(default=list, blank=True, help_text='e.g. ["sox"]; empty: any.')
    systems = models.ManyToManyField(
        System, blank=True, related_name="+", help_text="Empty: by tier and scope."
    )
    reviewer = models.CharField(max_length=20, choices=Reviewer.choices, default=Reviewer.SYSTEM_OWNER)
    fallback_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cadence_months = models.PositiveSmallIntegerField(default=3)
    due_business_days = models.PositiveSmallIntegerField(default=10)
    undecided_rule = models.CharField(
        max_length=10, choices=UndecidedRule.choices, default=UndecidedRule.ESCALATE
    )
    next_run_on = models.DateField(null=True, blank=True)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class ReviewCampaign(ChangeLoggedModel):
    class State(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    template = models.ForeignKey(ReviewTemplate, on_delete=models.SET_NULL, null=True, blank=True)
    name = models.CharField(max_length=250)
    definition = models.JSONField(
        default=dict, help_text="The template's scope and rules, frozen at the start."
    )
    state = models.CharField(max_length=10, choices=State.choices, default=State.OPEN)
    started_at = models.DateTimeField()
    due_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    undecided_rule = models.CharField(
        max_length=10, choices=UndecidedRule.choices, default=UndecidedRule.ESCALATE
    )
    fallback_reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The population snapshot: where it came from, when, how many rows and their SHA-256.
    snapshot_source = models.CharField(max_length=200, blank=True)
    snapshot_taken_at = models.DateTimeField(null=True, blank=True)
    snapshot_rows = models.PositiveIntegerField(default=0)
    snapshot_sha256 = models.CharField(max_length=64, blank=True)
    reminders_sent = models.JSONField(default=dict, blank=True)
    audit_exclude = ("created", "last_updated", "reminders_sent")

    class Meta:
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("access:campaign", args=[self.pk])


class ReviewItem(ChangeLoggedModel):
    """One grant of the frozen population and the decision on it.

    The snapshot columns are copied at the start and never change. Items are written in bulk when a campaign
    starts (the campaign's audit event carries the row count and hash, not 300,000 events); each decision and
    reassignment is audited through gatehouse.core.services.
    """

    class Decision(models.TextChoices):
        PENDING = "pending", "Not decided"
        KEEP = "keep", "Keep"
        REVOKE = "revoke", "Revoke"
        MODIFY = "modify", "Modify"

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items")
    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="review_items")
    system = models.ForeignKey(System, on_delete=models.PROTECT, related_name="+")
    # The snapshot.
    person_email = models.CharField(max_length=254)
    person_name = models.CharField(max_length=200)
    person_status = models.CharField(max_length=20)
    manager_email = models.CharField(max_length=254, blank=True)
    entitlement_name = models.CharField(max_length=200)
    privilege = models.CharField(max_length=10)
    granted_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    # The review.
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="review_items",
    )
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    reason = models.TextField(blank=True)
    modify_to = models.ForeignKey(
        Entitlement, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["campaign", "id"]
        indexes = [
            models.Index(fields=["campaign", "reviewer", "decision"], name="access_reviewitem_reviewer_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.person_email}: {self.entitlement_name} ({self.get_decision_display()})"
