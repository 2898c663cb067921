"""The default access review templates, on the cadences of DESIGN.md, seeded after `migrate`.

Like the desk's defaults (docs/decisions/0005-installation-defaults.md): created only when there is no review
template at all (a new install, or a test database just flushed), not audited (installation, not a change
someone made), and never touched again, so an admin's edits and deletions stay. The first run of each is one
cadence after the install; `gatehouse start_review TEMPLATE` starts one at any time.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

DEFAULT_TEMPLATES = [
    {
        "slug": "terminated-users-quarterly",
        "name": "Terminated users (quarterly)",
        "scope": "terminated",
        "reviewer": "system_owner",
        "cadence_months": 3,
        "undecided_rule": "revoke",
    },
    {
        "slug": "privileged-users-quarterly",
        "name": "Privileged users (quarterly)",
        "scope": "privileged",
        "reviewer": "system_owner",
        "cadence_months": 3,
        "undecided_rule": "escalate",
    },
    {
        "slug": "sox-all-users-quarterly",
        "name": "SOX systems, all users (quarterly)",
        "scope": "all",
        "compliance_scopes": ["sox"],
        "reviewer": "system_owner",
        "cadence_months": 3,
        "undecided_rule": "escalate",
    },
    {
        "slug": "pci-all-users-semiannual",
        "name": "PCI systems, all users (every 6 months)",
        "scope": "all",
        "compliance_scopes": ["pci"],
        "reviewer": "system_owner",
        "cadence_months": 6,
        "undecided_rule": "escalate",
    },
    {
        "slug": "tier-1-2-annual",
        "name": "Tier 1 and 2 systems, all users (annual)",
        "scope": "all",
        "tiers": [1, 2],
        "reviewer": "manager",
        "cadence_months": 12,
        "undecided_rule": "escalate",
    },
]


def ensure_review_templates(using: str = "default") -> bool:
    """Seed the default templates when there is none. Returns whether it seeded."""
    from gatehouse.access.models import ReviewTemplate
    from gatehouse.access.reviews import add_months

    if ReviewTemplate.objects.using(using).exists():
        return False
    today = timezone.localdate()
    with transaction.atomic(using=using):
        ReviewTemplate.objects.using(using).bulk_create(
            ReviewTemplate(
                due_business_days=10,
                next_run_on=add_months(today, spec["cadence_months"]),
                **spec,
            )
            for spec in DEFAULT_TEMPLATES
        )
    return True


def seed_after_migrate(sender=None, using: str = "default", **kwargs) -> None:
    ensure_review_templates(using)
