"""The desk's defaults: the 24x5 calendar, the default SLA policy, the triage queue, the seven request types with
their forms, and two example routing rules.

They are seeded after `migrate` (post_migrate) into a desk that has no request types yet: a new install, or a
test database just flushed. Like a migration, the seed is installation, not a change someone made, so it writes
no audit events; every later change (admins edit all of it) goes through the services and is audited. A desk
that has its types is never touched, so an admin's changes are never overwritten.

The triage queue has no team: helpdesk analysts (the role) work it until an admin gives it one.
"""

from __future__ import annotations

from django.db import transaction

WEEKDAYS_24X5 = {str(day): [["00:00", "24:00"]] for day in range(1, 6)}

# Business minutes (24x5: a business day is 24 hours of open time).
TARGETS = [
    # priority, first response, resolution
    ("urgent", 30, 4 * 60),
    ("high", 60, 8 * 60),
    ("normal", 4 * 60, 24 * 60),
    ("low", 8 * 60, 3 * 24 * 60),
]
# Tier 3 (engineers and system owners) gets longer resolution targets for the lower priorities.
TIER3_TARGETS = [
    ("normal", 4 * 60, 2 * 24 * 60),
    ("low", 8 * 60, 5 * 24 * 60),
]


def field(name, label, type="text", required=False, choices=None, help_text=""):
    spec = {"name": name, "label": label, "type": type, "required": required, "help_text": help_text}
    if choices:
        spec["choices"] = choices
    return spec


REQUEST_TYPES = [
    {
        "slug": "access-request",
        "name": "Access request",
        "description": "Ask for access to a system.",
        "system_field": "required",
        "default_priority": "normal",
        "position": 10,
        "form_schema": [
            field(
                "access_level",
                "Access level",
                "choice",
                True,
                ["Read-only", "Standard", "Admin"],
                "Ask for the least access that lets you do the work.",
            ),
            field("justification", "Why do you need it?", "textarea", True, help_text="The work it is for."),
            field("needed_by", "Needed by", "date", help_text="Leave blank if there is no deadline."),
            field(
                "approver",
                "Approver",
                "person",
                help_text="The email of the person who approves (usually your manager), if the system needs one.",
            ),
        ],
    },
    {
        "slug": "access-change",
        "name": "Access change",
        "description": "Change or remove someone's access to a system.",
        "system_field": "required",
        "default_priority": "normal",
        "position": 20,
        "form_schema": [
            field(
                "change",
                "Change",
                "choice",
                True,
                ["Add a role", "Remove a role", "Change role", "Remove all access"],
            ),
            field("person", "For whom", "person", help_text="Blank: yourself."),
            field("details", "Details", "textarea", True, help_text="Which roles or groups, and why."),
            field("effective_date", "Effective date", "date"),
        ],
    },
    {
        "slug": "account-lockout",
        "name": "Account lockout",
        "description": "You cannot sign in: locked out, lost MFA device, expired password.",
        "system_field": "optional",
        "default_priority": "high",
        "position": 30,
        "form_schema": [
            field("account", "Account", "text", True, help_text="The username or email you sign in with."),
            field(
                "cause",
                "What happened?",
                "choice",
                True,
                ["Too many attempts", "Lost MFA device", "Password expired", "Other"],
            ),
            field(
                "contact",
                "How to reach you",
                "text",
                help_text="A phone number or chat handle that works now.",
            ),
        ],
    },
    {
        "slug": "laptop-or-hardware",
        "name": "Laptop or hardware",
        "description": "A new laptop, a broken, lost or stolen device, or a peripheral.",
        "system_field": "hidden",
        "default_priority": "normal",
        "position": 40,
        "form_schema": [
            field(
                "issue_kind",
                "What do you need?",
                "choice",
                True,
                ["New laptop", "Broken or damaged", "Lost or stolen", "Peripheral", "Other"],
                "A lost or stolen device is handled as urgent.",
            ),
            field(
                "asset_tag", "Asset tag", "text", help_text="On the sticker under the device, if you have it."
            ),
            field("shipping_address", "Shipping address", "textarea"),
            field("needed_by", "Needed by", "date"),
        ],
    },
    {
        "slug": "configuration-change",
        "name": "Configuration change",
        "description": "Report an issue with a system or ask for a change to its configuration.",
        "system_field": "required",
        "default_priority": "normal",
        "position": 50,
        "form_schema": [
            field(
                "environment",
                "Environment",
                "choice",
                True,
                ["Production", "Staging", "Development"],
            ),
            field(
                "risk",
                "Risk",
                "choice",
                True,
                ["Low", "Medium", "High"],
                "What could break if it goes wrong.",
            ),
            field("change_summary", "What should change?", "textarea", True),
            field("rollback_plan", "Rollback plan", "textarea"),
            field("desired_date", "Desired date", "date"),
        ],
    },
    {
        "slug": "security-question",
        "name": "Security question",
        "description": "Ask the security team about a policy, data handling or a vendor.",
        "system_field": "optional",
        "default_priority": "low",
        "position": 60,
        "form_schema": [
            field(
                "topic",
                "Topic",
                "choice",
                True,
                ["Policy", "Data handling", "Vendor review", "Other"],
            ),
            field(
                "data_classification",
                "Data involved",
                "choice",
                False,
                ["Red", "Orange", "Yellow", "Green", "Not sure"],
                "The classification of the data your question is about.",
            ),
        ],
    },
    {
        "slug": "suspicious-activity",
        "name": "Suspicious activity report",
        "description": "Report phishing, a suspicious sign-in, malware or anything that looks wrong.",
        "system_field": "optional",
        "default_priority": "high",
        "position": 70,
        "form_schema": [
            field(
                "what_happened",
                "What did you see?",
                "choice",
                True,
                ["Phishing email", "Suspicious sign-in", "Malware", "Data exposed", "Other"],
            ),
            field(
                "clicked_or_entered",
                "Did you click a link, open an attachment or enter a password?",
                "boolean",
                help_text="Say yes if unsure: it makes the request urgent.",
            ),
            field("sender", "Sender's address", "email", help_text="For a phishing email."),
            field("when", "When", "date"),
        ],
    },
]

RULES = [
    {
        "name": "Lost or stolen device is urgent",
        "position": 10,
        "condition": {
            "all": [
                {"field": "type", "op": "eq", "value": "laptop-or-hardware"},
                {"field": "fields.issue_kind", "op": "eq", "value": "Lost or stolen"},
            ]
        },
        "actions": {"priority": "urgent", "labels": ["lost-device"]},
    },
    {
        "name": "Clicked a suspicious link is urgent",
        "position": 20,
        "condition": {
            "all": [
                {"field": "type", "op": "eq", "value": "suspicious-activity"},
                {"field": "fields.clicked_or_entered", "op": "eq", "value": True},
            ]
        },
        "actions": {"priority": "urgent", "labels": ["security-incident"]},
    },
]


def ensure_defaults(using: str = "default") -> bool:
    """Seed the defaults into a desk without request types. Returns whether it seeded."""
    from gatehouse.desk.models import BusinessCalendar, Queue, RequestType, RoutingRule, SlaPolicy, SlaTarget

    if RequestType.objects.using(using).exists():
        return False
    with transaction.atomic(using=using):
        calendar = BusinessCalendar.objects.using(using).filter(slug="default").first()
        if calendar is None:
            calendar = BusinessCalendar.objects.using(using).create(
                slug="default", name="Default (24x5)", time_zone="UTC", weekly_hours=WEEKDAYS_24X5
            )
        policy = SlaPolicy.objects.using(using).filter(slug="default").first()
        if policy is None:
            policy = SlaPolicy.objects.using(using).create(
                slug="default", name="Default", calendar=calendar, at_risk_percent=80
            )
            targets = [(p, None, f, r) for p, f, r in TARGETS] + [(p, 3, f, r) for p, f, r in TIER3_TARGETS]
            SlaTarget.objects.using(using).bulk_create(
                SlaTarget(policy=policy, priority=p, tier=t, first_response_minutes=f, resolution_minutes=r)
                for p, t, f, r in targets
            )
        if not Queue.objects.using(using).filter(is_triage=True).exists():
            Queue.objects.using(using).get_or_create(
                slug="triage",
                defaults={"name": "Helpdesk triage", "tier": 2, "is_triage": True, "round_robin": False},
            )
        for spec in REQUEST_TYPES:
            RequestType.objects.using(using).get_or_create(
                slug=spec["slug"], defaults={"sla_policy": policy, **spec}
            )
        for spec in RULES:
            RoutingRule.objects.using(using).get_or_create(
                name=spec["name"], defaults={"is_active": True, **spec}
            )
    return True


def seed_after_migrate(sender=None, using: str = "default", **kwargs) -> None:
    ensure_defaults(using)
