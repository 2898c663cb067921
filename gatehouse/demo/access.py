"""The demo company's access (issue 4, part A): entitlements for the 20 systems, department bundles, and grants.

Everyone still employed holds the baseline entitlements (on the baseline systems) and their department bundle's;
leavers hold what they held before they left (their revoke work is the leaver dashboard's). Upserted by
natural key (system + slug, bundle slug, one live grant per person and entitlement), so a second load writes
nothing. Grants are inserted in bulk with one audit event each.

Then, replayed through the services at moments counted back from the load (like the desk's requests), one open
access review campaign with a few decisions (`load_review_campaign`) and one leaver in progress
(`load_leaver`): their revoke tasks opened by the real leaver path, some done, some open, one overdue. Each is
made once: a second load finds the campaign (by template) and the leaver's event and writes nothing.
"""

from __future__ import annotations

import datetime
import zlib
from typing import Any

from django.utils import timezone

from gatehouse.access.grants import create_entitlement
from gatehouse.access.lifecycle import create_bundle
from gatehouse.access.models import Bundle, Entitlement, Grant, GrantSource
from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.catalog.models import System
from gatehouse.core.models import json_safe
from gatehouse.directory.models import Person

# system slug -> [(slug, name, privilege, baseline, extra fields)]
S, A = "standard", "admin"
ENTITLEMENTS: dict[str, list[tuple[str, str, str, bool, dict[str, Any]]]] = {
    "1password": [
        ("employees", "Employees vault", S, True, {}),
        ("it-admins", "IT admins vault", A, False, {}),
        ("owners", "Account owners", A, False, {}),
    ],
    "accessctl": [
        ("badge", "Office badge", S, False, {"approval_policy": "manager_only"}),
        ("admin", "Access control admin", A, False, {}),
    ],
    "aws": [
        ("readonly", "ReadOnlyAccess", S, False, {"max_duration_days": 90}),
        ("developer", "PowerUser (non-prod)", S, False, {}),
        ("admin", "AdministratorAccess", A, False, {"max_duration_days": 30}),
    ],
    "azure": [("reader", "Reader", S, False, {}), ("owner", "Subscription owner", A, False, {})],
    "dns": [("editor", "DNS editor", S, False, {}), ("registrar-admin", "Registrar admin", A, False, {})],
    "drivestrike": [
        ("enrolled", "Enrolled device", S, False, {"approval_policy": "none"}),
        ("console-admin", "Console admin", A, False, {}),
    ],
    "gitlab": [
        (
            "developers",
            "Developers",
            S,
            True,
            {"connector": "gitlab", "external_id": "corp", "external_role": "developer"},
        ),
        (
            "maintainers",
            "Maintainers",
            S,
            False,
            {"connector": "gitlab", "external_id": "corp", "external_role": "maintainer"},
        ),
        (
            "owners",
            "Group owners",
            A,
            False,
            {"connector": "gitlab", "external_id": "corp", "external_role": "owner"},
        ),
    ],
    "gcp": [
        ("viewer", "Viewer", S, False, {}),
        ("editor", "Editor", S, False, {}),
        ("org-admin", "Organization admin", A, False, {}),
    ],
    "goog-apps": [
        ("user", "Workspace user", S, True, {"approval_policy": "none"}),
        ("shared-drive-manager", "Shared drive manager", S, False, {}),
    ],
    "goog-org": [
        ("user-admin", "User management admin", A, False, {}),
        ("super-admin", "Super admin", A, False, {}),
    ],
    "goog-groups": [
        (
            "all-staff",
            "all-staff@",
            S,
            True,
            {
                "approval_policy": "none",
                "connector": "google",
                "external_id": "all-staff@gatehouse-demo.example",
            },
        ),
        (
            "engineering",
            "engineering@",
            S,
            False,
            {
                "approval_policy": "none",
                "connector": "google",
                "external_id": "engineering@gatehouse-demo.example",
            },
        ),
        (
            "sales",
            "sales@",
            S,
            False,
            {"approval_policy": "none", "connector": "google", "external_id": "sales@gatehouse-demo.example"},
        ),
    ],
    "jamf": [
        ("enrolled", "Enrolled Mac", S, False, {"approval_policy": "none"}),
        ("admin", "Jamf admin", A, False, {}),
    ],
    "nira": [("viewer", "Viewer", S, False, {}), ("admin", "Nira admin", A, False, {})],
    "nordlayer": [("member", "VPN member", S, False, {}), ("admin", "VPN admin", A, False, {})],
    "okta-sso": [
        (
            "everyone",
            "Everyone",
            S,
            True,
            {"approval_policy": "none", "connector": "okta", "external_id": "00g-everyone"},
        ),
        ("engineering", "Engineering", S, False, {"connector": "okta", "external_id": "00g-engineering"}),
        ("super-admin", "Super administrator", A, False, {}),
    ],
    "okta-flow": [("builder", "Flow builder", S, False, {}), ("admin", "Workflows admin", A, False, {})],
    "sandbox-cloud": [
        ("user", "Sandbox user", S, False, {"max_duration_days": 30}),
        ("admin", "Sandbox admin", A, False, {}),
    ],
    "sentinelone": [("viewer", "Console viewer", S, False, {}), ("admin", "Console admin", A, False, {})],
    "slack": [
        ("member", "Workspace member", S, True, {"approval_policy": "none"}),
        ("admin", "Workspace admin", A, False, {}),
        ("owner", "Workspace owner", A, False, {}),
    ],
    "zoom": [
        ("licensed", "Licensed user", S, True, {"approval_policy": "none"}),
        ("admin", "Zoom admin", A, False, {}),
    ],
}
# department -> entitlements (system/slug)
BUNDLES: dict[str, list[str]] = {
    "Engineering": [
        "aws/developer",
        "gcp/viewer",
        "goog-groups/engineering",
        "okta-sso/engineering",
        "sandbox-cloud/user",
        "nordlayer/member",
        "gitlab/maintainers",
    ],
    "IT": [
        "jamf/admin",
        "drivestrike/console-admin",
        "okta-flow/builder",
        "1password/it-admins",
        "accessctl/badge",
    ],
    "Security": ["sentinelone/viewer", "nira/viewer", "aws/readonly", "nordlayer/member"],
    "Sales": ["goog-groups/sales", "goog-apps/shared-drive-manager"],
    "Product": ["gitlab/developers", "sandbox-cloud/user"],
}


def _start(person: Person, key: str) -> datetime.datetime:
    """The same start for the same grant every load: the person's start date plus a few stable days."""
    day = person.start_date or datetime.date(2020, 1, 6)
    offset = zlib.crc32(f"{person.email}:{key}".encode()) % 10
    return datetime.datetime.combine(
        day + datetime.timedelta(days=offset), datetime.time(9), tzinfo=datetime.UTC
    )


def load_access(*, actor, progress, summary) -> None:
    systems = {s.slug: s for s in System.objects.filter(slug__in=ENTITLEMENTS)}
    existing = {(e.system.slug, e.slug): e for e in Entitlement.objects.select_related("system")}
    created = 0
    for system_slug, specs in progress(
        list(ENTITLEMENTS.items()), total=len(ENTITLEMENTS), desc="Entitlements"
    ):
        system = systems.get(system_slug)
        if system is None:
            continue
        for slug, name, privilege, baseline, extra in specs:
            if (system_slug, slug) in existing:
                continue
            existing[(system_slug, slug)] = create_entitlement(
                actor=actor,
                system=system,
                slug=slug,
                name=name,
                privilege=privilege,
                is_baseline=baseline,
                **extra,
            )
            created += 1
    bundles = set(Bundle.objects.values_list("slug", flat=True))
    for department, keys in BUNDLES.items():
        slug = f"dept-{department.lower()}"
        if slug in bundles:
            continue
        wanted = [existing[tuple(k.split("/"))] for k in keys if tuple(k.split("/")) in existing]
        create_bundle(
            actor=actor,
            slug=slug,
            name=f"{department} department",
            department=department,
            entitlements=wanted,
        )
    baseline = [e for e in existing.values() if e.is_baseline]
    by_department = {
        d: [existing[tuple(k.split("/"))] for k in keys if tuple(k.split("/")) in existing]
        for d, keys in BUNDLES.items()
    }
    # Every grant on record, live or ended: access the demo's own story ended (the leaver's revokes, a review's)
    # stays ended on a reload rather than being handed back.
    live = set(Grant.objects.values_list("person_id", "entitlement_id"))
    now = timezone.now()
    new: list[Grant] = []
    people = list(Person.objects.order_by("email"))
    for person in progress(people, total=len(people), desc="Grants"):
        for entitlement in [*baseline, *by_department.get(person.department, [])]:
            if (person.pk, entitlement.pk) in live:
                continue
            live.add((person.pk, entitlement.pk))
            source = GrantSource.BASELINE if entitlement.is_baseline else GrantSource.BUNDLE
            started = min(_start(person, f"{entitlement.system_id}/{entitlement.slug}"), now)
            new.append(Grant(person=person, entitlement=entitlement, source=source, started_at=started))
    made = Grant.objects.bulk_create(new, batch_size=500)
    record_events(
        [
            EventDraft(
                action=AuditAction.CREATE,
                object_type=Grant.audit_label(),
                object_id=str(g.pk),
                object_repr=f"{g.person} holds {g.entitlement}"[:200],
                changes={
                    k: [None, json_safe(v)]
                    for k, v in g.audit_snapshot().items()
                    if v not in (None, "", [], {})
                },
            )
            for g in made
        ]
    )
    summary.totals["entitlements"] = Entitlement.objects.count()
    summary.totals["grants"] = Grant.objects.filter(ended_at__isnull=True).count()
    summary.created["entitlements"] = created
    summary.created["grants"] = len(made)
    load_review_campaign(actor=actor, summary=summary)
    load_leaver(actor=actor, summary=summary)


# --- one open access review campaign (issue 4, item 9) --------------------------------------------------------

CAMPAIGN_TEMPLATE = "sox-all-users-quarterly"
CAMPAIGN_AGE = datetime.timedelta(days=3)  # started this long before the load
DECISIONS_AGE = datetime.timedelta(days=2)  # the reviewers' first decisions
# (reviewer username, how many of their items to keep); the reviewer also revokes one grant of someone who left.
REVIEWERS = (("owner", 4), ("manager", 3))


def _replayed_now() -> datetime.datetime:
    return timezone.now().replace(second=0, microsecond=0)


def load_review_campaign(*, actor, summary) -> None:
    """Start the SOX review from its seeded template, as of three days ago, and record a few decisions: each
    reviewer keeps some of their items and revokes one grant still held by someone who left (the reason says
    so). Made once: a campaign from the template means the demo has it."""
    from gatehouse.access import reviews
    from gatehouse.access.models import ReviewCampaign, ReviewItem, ReviewTemplate
    from gatehouse.demo.desk import _clock
    from gatehouse.directory.models import PersonStatus
    from gatehouse.users.models import User

    template = ReviewTemplate.objects.filter(slug=CAMPAIGN_TEMPLATE, is_active=True).first()
    summary.totals["review campaigns"] = ReviewCampaign.objects.count()
    summary.created["review campaigns"] = 0
    if template is None or ReviewCampaign.objects.filter(template=template).exists():
        return
    now = _replayed_now()
    started = now - CAMPAIGN_AGE
    with _clock(started):
        campaign = reviews.start_campaign(template, actor=actor, now=started)
    users = {u.username: u for u in User.objects.filter(username__in=[r for r, _ in REVIEWERS])}
    decided_at = now - DECISIONS_AGE
    for step, (username, keeps) in enumerate(REVIEWERS):
        reviewer = users.get(username)
        if reviewer is None:
            continue
        mine = ReviewItem.objects.filter(campaign=campaign, reviewer=reviewer).order_by("id")
        leaver_item = (
            mine.filter(person_status=PersonStatus.TERMINATED).select_related("grant__person").first()
        )
        kept = list(mine.exclude(person_status=PersonStatus.TERMINATED)[:keeps])
        at = decided_at + datetime.timedelta(hours=step)
        for offset, item in enumerate(kept):
            with _clock(at + datetime.timedelta(minutes=offset)):
                reviews.decide_item(item, actor=reviewer, decision=ReviewItem.Decision.KEEP)
        if leaver_item is not None:
            end = leaver_item.grant.person.end_date
            with _clock(at + datetime.timedelta(minutes=30)):
                reviews.decide_item(
                    leaver_item,
                    actor=reviewer,
                    decision=ReviewItem.Decision.REVOKE,
                    reason=f"Left the company on {end:%Y-%m-%d}; the access should have gone then."
                    if end
                    else "Left the company; the access should have gone then.",
                )
    summary.totals["review campaigns"] = ReviewCampaign.objects.count()
    summary.created["review campaigns"] = 1


# --- one leaver in progress (issue 4, item 9) -----------------------------------------------------------------

LEAVER_AGE = datetime.timedelta(hours=30)  # detected this long before the load: past the 24-hour deadline
DEPROVISIONER = "helpdesk"  # the IT Helpdesk deprovisions every demo system
# Of the leaver's revoke tasks on critical systems (24-hour deadline), all but this system's are done; it is the
# overdue one. On the other systems (5 days), this many are done and the rest open.
OVERDUE_SYSTEM = "slack"
STANDARD_DONE = 2


def pick_leaver() -> Person | None:
    """The person who left last (end date passed, terminated), among those holding access: always the same."""
    from gatehouse.directory.models import PersonStatus

    holders = Grant.objects.filter(ended_at__isnull=True).values("person_id")
    return (
        Person.objects.filter(status=PersonStatus.TERMINATED, pk__in=holders)
        .order_by("-end_date", "email")
        .first()
    )


def load_leaver(*, actor, summary) -> None:
    """Offboard the latest leaver through the lifecycle service, as the nightly status refresh does when an end
    date passes (their status was leaving until then), 30 hours before the load; then the IT Helpdesk works the
    revoke tasks by hand with evidence: every critical system's but Slack's (overdue: its 24 hours are up), and
    two of the others (due in 5 days; the rest stay open). Connector tasks run their connector first, as the
    worker would (the demo configures none, so they fail and are finished by hand). Made once: a leaver event
    for the person means the demo has it."""
    from gatehouse.access import fulfilment, lifecycle
    from gatehouse.access.connectors import connector_class
    from gatehouse.access.models import FulfilmentTask, LifecycleEvent
    from gatehouse.demo.desk import _clock
    from gatehouse.directory.models import PersonStatus
    from gatehouse.users.models import User

    person = pick_leaver()
    summary.totals["leavers in progress"] = LifecycleEvent.objects.filter(
        kind=LifecycleEvent.Kind.LEAVER, completed_at__isnull=True
    ).count()
    summary.created["leavers in progress"] = 0
    if (
        person is None
        or LifecycleEvent.objects.filter(person=person, kind=LifecycleEvent.Kind.LEAVER).exists()
    ):
        return
    now = _replayed_now()
    detected = now - LEAVER_AGE
    before = {**lifecycle.watched_fields(person), "status": PersonStatus.LEAVING}
    with _clock(detected):
        event = lifecycle.on_person_changed(person, before, actor=actor, now=detected)
    if event is None:
        return
    worker = User.objects.filter(username=DEPROVISIONER).first()
    tasks = list(
        FulfilmentTask.objects.filter(lifecycle_event=event)
        .select_related("entitlement__system", "person")
        .order_by("entitlement__system__slug", "entitlement__slug", "pk")
    )
    critical = lifecycle.critical_system_ids({t.entitlement.system_id for t in tasks})
    to_finish = [
        t
        for t in tasks
        if t.entitlement.system_id in critical and t.entitlement.system.slug != OVERDUE_SYSTEM
    ]
    to_finish += [t for t in tasks if t.entitlement.system_id not in critical][:STANDARD_DONE]
    at = detected + datetime.timedelta(hours=1)
    for task in to_finish if worker is not None else []:
        if task.entitlement.connector:
            connector = connector_class(task.entitlement.connector)
            if connector is not None and connector.is_configured():
                continue  # a real service: the worker runs it (the demo never calls out itself)
            with _clock(at):
                task = fulfilment.execute_connector(task.pk) or task
            at += datetime.timedelta(minutes=5)
            if task.state == FulfilmentTask.State.DONE:
                continue
        task.refresh_from_db()
        with _clock(at):
            fulfilment.complete_task(
                task,
                actor=worker,
                evidence=f"Removed {person.email} from {task.entitlement} in the {task.entitlement.system.name} "
                f"admin console (demo offboarding ticket).",
            )
        at += datetime.timedelta(minutes=20)
    summary.totals["leavers in progress"] = LifecycleEvent.objects.filter(
        kind=LifecycleEvent.Kind.LEAVER, completed_at__isnull=True
    ).count()
    summary.created["leavers in progress"] = 1
