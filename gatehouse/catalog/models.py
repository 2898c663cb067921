"""The system catalog: every SaaS and cloud system, with its owners, tier and data classification."""

from __future__ import annotations

from django.db import models
from django.urls import reverse

from gatehouse.core.models import ChangeLoggedModel
from gatehouse.core.validators import validate_link


class Tier(models.IntegerChoices):
    MISSION_CRITICAL = 1, "Tier 1 Mission Critical"
    BUSINESS_CRITICAL = 2, "Tier 2 Business Critical"
    BUSINESS_OPERATIONAL = 3, "Tier 3 Business Operational"
    ADMINISTRATIVE = 4, "Tier 4 Administrative"


class DataClassification(models.TextChoices):
    RED = "red", "Red"
    ORANGE = "orange", "Orange"
    YELLOW = "yellow", "Yellow"
    GREEN = "green", "Green"


class AuthMethod(models.TextChoices):
    SAML = "saml", "SAML"
    OIDC = "oidc", "OIDC"
    SWA = "swa", "SWA"
    PASSWORD = "password", "Password"
    OTHER = "other", "Other"


class Audience(models.TextChoices):
    EMPLOYEE = "employee", "Employee"
    CUSTOMER = "customer", "Customer"
    BOTH = "both", "Both"


class ComplianceScope(models.Model):
    """A compliance programme a system can be in scope of (SOX, SOC 2, PCI, ISO 27001, ...)."""

    code = models.SlugField(max_length=30, primary_key=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class System(ChangeLoggedModel):
    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200, db_index=True)
    description = models.TextField(blank=True)
    label = models.CharField(max_length=100, blank=True, db_index=True, help_text="e.g. corpsys::okta-sso")
    owner_team = models.ForeignKey(
        "directory.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_systems"
    )
    chat_channel = models.CharField(max_length=100, blank=True, help_text="e.g. #it_help")
    tier = models.PositiveSmallIntegerField(
        choices=Tier.choices, null=True, blank=True, help_text="The tier as declared."
    )
    effective_tier = models.PositiveSmallIntegerField(
        choices=Tier.choices,
        null=True,
        blank=True,
        db_index=True,
        editable=False,
        help_text="The declared tier raised by the tier defaults (Red data or sub-processor: Tier 1; SOX: Tier 2).",
    )
    data_classification = models.CharField(
        max_length=10, choices=DataClassification.choices, blank=True, db_index=True
    )
    auth_method = models.CharField(
        "authentication method", max_length=10, choices=AuthMethod.choices, blank=True
    )
    scim_supported = models.BooleanField("SCIM", null=True, blank=True)
    baseline_entitlement = models.BooleanField(
        null=True, blank=True, help_text="Every team member gets access."
    )
    is_subprocessor = models.BooleanField("sub-processor", null=True, blank=True)
    compliance_scopes = models.ManyToManyField(ComplianceScope, blank=True, related_name="systems")
    audience = models.CharField(max_length=10, choices=Audience.choices, blank=True)
    vendor = models.CharField(max_length=200, blank=True)
    access_to = models.TextField(blank=True, help_text="Who has access, as the catalog says it.")
    handbook_link = models.TextField(blank=True, help_text="Handbook or runbook link (Markdown link or URL).")
    access_request_url = models.CharField(
        "access request link",
        max_length=500,
        blank=True,
        validators=[validate_link],
        help_text="Where team members ask for access: an http(s) URL or a Gatehouse path.",
    )
    issue_template_url = models.CharField(
        "issue template link",
        max_length=500,
        blank=True,
        validators=[validate_link],
        help_text="Where team members report an issue or ask for a change: an http(s) URL or a Gatehouse path.",
    )
    notes = models.TextField(blank=True)
    extra = models.JSONField(
        default=dict, blank=True, help_text="Fields an import did not know, kept as given."
    )
    # What the last import read, so an export writes back the original text of values nobody changed.
    source_keys = models.JSONField(default=list, blank=True, editable=False)
    source_values = models.JSONField(default=dict, blank=True, editable=False)
    import_problems = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("catalog:system", args=[self.slug])

    def compute_effective_tier(self, scope_codes: set[str]) -> int | None:
        """Tier defaults of DESIGN.md: Red data or a sub-processor makes Tier 1; SOX makes at least Tier 2."""
        candidates = [self.tier] if self.tier else []
        if self.data_classification == DataClassification.RED or self.is_subprocessor:
            candidates.append(Tier.MISSION_CRITICAL)
        if "sox" in scope_codes:
            candidates.append(Tier.BUSINESS_CRITICAL)
        return min(candidates) if candidates else None

    def tier_reasons(self) -> list[str]:
        reasons = []
        if self.data_classification == DataClassification.RED:
            reasons.append("Red data makes it Tier 1")
        if self.is_subprocessor:
            reasons.append("a sub-processor is Tier 1")
        if any(s.code == "sox" for s in self.compliance_scopes.all()):
            reasons.append("SOX scope makes it at least Tier 2")
        return reasons


class ContactRole(models.TextChoices):
    BUSINESS_OWNER = "business_owner", "Business owner"
    TECHNICAL_OWNER = "technical_owner", "Technical owner"
    PROVISIONER = "provisioner", "Provisioner"
    DEPROVISIONER = "deprovisioner", "Deprovisioner"


class SystemContact(models.Model):
    """A person or team in one role for a system: business or technical owner, provisioner, deprovisioner."""

    system = models.ForeignKey(System, on_delete=models.CASCADE, related_name="contacts")
    role = models.CharField(max_length=20, choices=ContactRole.choices)
    person = models.ForeignKey(
        "directory.Person", null=True, blank=True, on_delete=models.CASCADE, related_name="system_roles"
    )
    team = models.ForeignKey(
        "directory.Team", null=True, blank=True, on_delete=models.CASCADE, related_name="system_roles"
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["system", "role", "position"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(person__isnull=False, team__isnull=True)
                | models.Q(person__isnull=True, team__isnull=False),
                name="catalog_contact_person_xor_team",
            )
        ]
        indexes = [models.Index(fields=["role", "person"], name="catalog_contact_person_idx")]

    def __str__(self) -> str:
        return f"{self.get_role_display()}: {self.party}"

    @property
    def party(self):
        return self.person or self.team

    @property
    def key(self) -> str:
        """How the audit trail names this contact."""
        return f"person:{self.person.email}" if self.person_id else f"team:{self.team.slug}"
