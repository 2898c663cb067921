"""Access review campaigns: scope, the frozen population snapshot, reviewers, decisions, reminders, closing.

A campaign starts from a ReviewTemplate. The grants in scope are copied, once, into ReviewItems (the snapshot
columns never change afterwards) and the campaign records where the population came from, when, how many rows
and the SHA-256 over the canonical rows. Creating the campaign is one audit event carrying those four values;
the items are bulk-created without an event each. Every decision and reassignment is audited.

The canonical snapshot row
--------------------------
One row per grant in the population, sorted by grant id (ascending). A row is the JSON array of these ten
values, in this order (``CANONICAL_COLUMNS``)::

    grant_id        integer
    system_id       integer (the catalog system's id)
    person_email    string
    person_name     string
    person_status   string (active, leaving, terminated)
    manager_email   string ("" when the person has no manager)
    entitlement     string (the entitlement's name)
    privilege       string (standard, admin)
    granted_at      string, UTC, "YYYY-MM-DDTHH:MM:SS.ffffffZ"
    last_used_at    same format, or null where the connector does not know it

serialised with ``json.dumps(row, ensure_ascii=False, separators=(",", ":"))`` and encoded as UTF-8. A row's
hash (``row_sha256``) is the SHA-256 of that line; the snapshot's hash (``snapshot_sha256``) is the SHA-256 of
every line followed by one LF (``\\n``), concatenated in grant id order. An empty population hashes the empty
string. ``gatehouse verify_review_export`` recomputes both from an evidence export (gatehouse.access.evidence).

Reviewers
---------
By the template's rule: the system owner (business owner, then technical owner contacts in contact order, a
team contact meaning its members, then the system's owner team members), the person's manager, or the
entitlement's owner; only people with an active sign-in count. Nobody reviews their own access: the next
candidate of the same rule is taken, else the campaign's fallback reviewer; when there is none either (or the
fallback holds the grant), the item stays unassigned and shows so on the campaign page for reassignment.

Due dates and reminders are in business days of the desk's default calendar: day 1 is the first open date after
the start, and a campaign is due at the close of its Nth open date.
"""

from __future__ import annotations

import calendar as pycalendar
import datetime
import hashlib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from gatehouse.access.models import (
    Entitlement,
    FulfilmentTask,
    Grant,
    Privilege,
    ReviewCampaign,
    Reviewer,
    ReviewItem,
    ReviewScope,
    ReviewTemplate,
    UndecidedRule,
)
from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.catalog.models import ContactRole, System, SystemContact
from gatehouse.core.jobs import job
from gatehouse.core.permissions import require
from gatehouse.core.services import create_object, update_object
from gatehouse.directory.models import PersonStatus

logger = logging.getLogger(__name__)

Decision = ReviewItem.Decision
CANONICAL_COLUMNS = (
    "grant_id",
    "system_id",
    "person_email",
    "person_name",
    "person_status",
    "manager_email",
    "entitlement",
    "privilege",
    "granted_at",
    "last_used_at",
)
BATCH_SIZE = 2000
MAX_BULK = 500  # items per bulk decision or reassignment
REMINDER_DAYS = (5, 3, 2)  # business days before the due date
ESCALATION = "escalated"
PERM_RUN = "access.add_reviewcampaign"  # start campaigns
PERM_MANAGE = "access.change_reviewcampaign"  # close, reassign
PERM_READ_ALL = "access.view_reviewcampaign"  # every campaign, item and evidence (auditors: read only)
PERM_DECIDE_ANY = "access.change_reviewitem"  # decide items assigned to someone else (admins)


# --- the canonical snapshot row -------------------------------------------------------------------------------


def canonical_time(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_values(item: ReviewItem | dict) -> list[Any]:
    """The ten canonical values of an item (a ReviewItem, or a dict of its field names)."""
    get = item.get if isinstance(item, dict) else lambda name: getattr(item, name)
    return [
        get("grant_id"),
        get("system_id"),
        get("person_email"),
        get("person_name"),
        get("person_status"),
        get("manager_email"),
        get("entitlement_name"),
        get("privilege"),
        canonical_time(get("granted_at")),
        canonical_time(get("last_used_at")),
    ]


def canonical_line(values: list[Any]) -> bytes:
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def row_sha256(values: list[Any]) -> str:
    return hashlib.sha256(canonical_line(values)).hexdigest()


class SnapshotHasher:
    """SHA-256 over canonical lines fed in grant id order, each followed by LF."""

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self.rows = 0
        self._last_grant: int | None = None

    def add(self, values: list[Any]) -> None:
        grant_id = values[0]
        if self._last_grant is not None and grant_id <= self._last_grant:
            raise ValueError(f"Snapshot rows must come in ascending grant id order (grant {grant_id}).")
        self._last_grant = grant_id
        self._hash.update(canonical_line(values) + b"\n")
        self.rows += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


# --- business days ----------------------------------------------------------------------------------------------


def default_clock():
    """A BusinessClock for the desk's default calendar (24x5 UTC when the desk has none)."""
    from gatehouse.desk.business_time import BusinessClock
    from gatehouse.desk.defaults import WEEKDAYS_24X5
    from gatehouse.desk.models import BusinessCalendar

    calendar = BusinessCalendar.objects.filter(slug="default").first()
    if calendar is None:
        return BusinessClock("UTC", WEEKDAYS_24X5)
    return BusinessClock.for_calendar(calendar)


def open_dates_after(clock, start: datetime.datetime, count: int) -> list[datetime.date]:
    """The next `count` local dates after start's local date on which the calendar is open."""
    day = start.astimezone(clock.zone).date()
    dates: list[datetime.date] = []
    for _ in range(3 * 366 + count * 7):
        day += datetime.timedelta(days=1)
        if clock.intervals(day):
            dates.append(day)
            if len(dates) == count:
                return dates
    raise ValidationError({"due_business_days": "The default calendar has no open days to count."})


def due_after(clock, start: datetime.datetime, business_days: int) -> datetime.datetime:
    """The close of the Nth open date after start (N >= 1)."""
    last = open_dates_after(clock, start, max(business_days, 1))[-1]
    return clock.intervals(last)[-1][1]


def open_dates_before(clock, due: datetime.datetime, count: int) -> datetime.date:
    """The open date `count` open dates before the due date's local date."""
    day = due_date(clock, due)
    found = 0
    for _ in range(3 * 366 + count * 7):
        day -= datetime.timedelta(days=1)
        if clock.intervals(day):
            found += 1
            if found == count:
                return day
    return day


def due_date(clock, due: datetime.datetime) -> datetime.date:
    """The local date a campaign is due on (a due time at midnight closes the day before)."""
    return (due - datetime.timedelta(microseconds=1)).astimezone(clock.zone).date()


def add_months(day: datetime.date, months: int) -> datetime.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return datetime.date(year, month, min(day.day, pycalendar.monthrange(year, month)[1]))


# --- scope and reviewers ---------------------------------------------------------------------------------------


def scope_systems(template: ReviewTemplate) -> QuerySet[System]:
    explicit = list(template.systems.values_list("pk", flat=True))
    if explicit:
        return System.objects.filter(pk__in=explicit)
    systems = System.objects.all()
    if template.tiers:
        systems = systems.filter(effective_tier__in=template.tiers)
    if template.compliance_scopes:
        systems = systems.filter(compliance_scopes__code__in=template.compliance_scopes)
    return systems.distinct()


def population(template: ReviewTemplate) -> QuerySet[Grant]:
    """The live grants in the template's scope (no permission check: the caller checked)."""
    from gatehouse.access.grants import active_grants

    grants = active_grants().filter(entitlement__system__in=scope_systems(template).values("pk"))
    if template.scope == ReviewScope.PRIVILEGED:
        grants = grants.filter(entitlement__privilege=Privilege.ADMIN)
    elif template.scope == ReviewScope.TERMINATED:
        grants = grants.filter(person__status=PersonStatus.TERMINATED)
    return grants


def describe_source(template: ReviewTemplate) -> str:
    parts = [f"live grants in Gatehouse ({ReviewScope(template.scope).label.lower()})"]
    if template.tiers:
        parts.append("tiers " + ", ".join(str(t) for t in template.tiers))
    if template.compliance_scopes:
        parts.append("scopes " + ", ".join(template.compliance_scopes))
    return "; ".join(parts)[:200]


def _signed_in_users() -> dict[int, int]:
    """{person id: user id} for active sign-ins (access not expired)."""
    from gatehouse.users.models import User

    now = timezone.now()
    rows = (
        User.objects.filter(is_active=True, person__isnull=False)
        .filter(Q(access_expires_at__isnull=True) | Q(access_expires_at__gt=now))
        .order_by("pk")
        .values_list("person_id", "pk")
    )
    users: dict[int, int] = {}
    for person_id, user_id in rows:
        users.setdefault(person_id, user_id)
    return users


def _system_owner_candidates(system_ids: Iterable[int], users: dict[int, int]) -> dict[int, list[tuple]]:
    """{system id: [(user id, person id), ...]} in rule order: business owners, technical owners, owner team."""
    from gatehouse.directory.models import Team

    system_ids = list(system_ids)
    order = {ContactRole.BUSINESS_OWNER: 0, ContactRole.TECHNICAL_OWNER: 1}
    contacts = SystemContact.objects.filter(system_id__in=system_ids, role__in=list(order)).values_list(
        "system_id", "role", "position", "pk", "person_id", "team_id"
    )
    team_ids = set()
    ordered: dict[int, list] = {}
    for system_id, role, position, pk, person_id, team_id in contacts:
        ordered.setdefault(system_id, []).append(((order[role], position, pk), person_id, team_id))
        if team_id:
            team_ids.add(team_id)
    owner_teams = dict(System.objects.filter(pk__in=system_ids).values_list("pk", "owner_team_id"))
    team_ids |= {t for t in owner_teams.values() if t}
    members: dict[int, list[int]] = {}
    for team_id, person_id in (
        Team.members.through.objects.filter(team_id__in=team_ids)
        .order_by("person__name", "person_id")
        .values_list("team_id", "person_id")
    ):
        members.setdefault(team_id, []).append(person_id)
    result: dict[int, list[tuple]] = {}
    for system_id in system_ids:
        people: list[int] = []
        for _, person_id, team_id in sorted(ordered.get(system_id, []), key=lambda c: c[0]):
            people.extend([person_id] if person_id else members.get(team_id, []))
        if owner_teams.get(system_id):
            people.extend(members.get(owner_teams[system_id], []))
        seen, candidates = set(), []
        for person_id in people:
            if person_id in users and person_id not in seen:
                seen.add(person_id)
                candidates.append((users[person_id], person_id))
        result[system_id] = candidates
    return result


class ReviewerPicker:
    """Assigns reviewers for one campaign with every lookup done up front (no query per grant)."""

    def __init__(self, rule: str, fallback_user, system_ids: Iterable[int]) -> None:
        self.rule = rule
        self.users = _signed_in_users()
        self.fallback_id = getattr(fallback_user, "pk", None)
        self.fallback_person = getattr(fallback_user, "person_id", None)
        self.owners = (
            _system_owner_candidates(system_ids, self.users) if rule == Reviewer.SYSTEM_OWNER else {}
        )

    def pick(self, row: dict) -> int | None:
        holder = row["person_id"]
        if self.rule == Reviewer.SYSTEM_OWNER:
            candidates = self.owners.get(row["system_id"], [])
        elif self.rule == Reviewer.MANAGER:
            manager = row["manager_id"]
            candidates = [(self.users[manager], manager)] if manager in self.users else []
        else:
            owner = row["owner_id"]
            candidates = [(self.users[owner], owner)] if owner in self.users else []
        for user_id, person_id in candidates:
            if person_id != holder:
                return user_id
        if self.fallback_id is not None and self.fallback_person != holder:
            return self.fallback_id
        return None


# --- starting a campaign ----------------------------------------------------------------------------------------

_ROW_FIELDS = (
    "pk",
    "person_id",
    "person__email",
    "person__name",
    "person__status",
    "person__manager_id",
    "person__manager__email",
    "entitlement__name",
    "entitlement__privilege",
    "entitlement__owner_id",
    "entitlement__system_id",
    "started_at",
    "last_used_at",
)


_ITEM_COLUMNS = (
    "campaign_id",
    "grant_id",
    "system_id",
    "person_email",
    "person_name",
    "person_status",
    "manager_email",
    "entitlement_name",
    "privilege",
    "granted_at",
    "last_used_at",
    "reviewer_id",
    "decision",
    "reason",
    "created",
    "last_updated",
)


class _ItemWriter:
    """Writes snapshot rows straight to the item table in batches: COPY on PostgreSQL, executemany elsewhere.

    The ORM's bulk_create spent most of a 300,000-row snapshot preparing model instances (bench/access.py);
    the rows here are plain tuples of already-validated values from the grants query.
    """

    def __init__(self, campaign_id: int, now: datetime.datetime) -> None:
        from django.db import connection

        self.connection = connection
        self.campaign_id = campaign_id
        self.postgres = connection.vendor == "postgresql"
        self.now = self._time(now)
        self.rows: list[tuple] = []
        table = ReviewItem._meta.db_table
        columns = ", ".join(_ITEM_COLUMNS)
        self.copy_sql = f"COPY {table} ({columns}) FROM STDIN"
        self.insert_sql = f"INSERT INTO {table} ({columns}) VALUES ({', '.join(['%s'] * len(_ITEM_COLUMNS))})"

    def _time(self, value):
        if value is None or self.postgres:
            return value
        return self.connection.ops.adapt_datetimefield_value(value)

    def add(self, snapshot: tuple, reviewer_id: int | None) -> int:
        granted_at, last_used_at = snapshot[8], snapshot[9]
        self.rows.append(
            (
                self.campaign_id,
                *snapshot[:8],
                self._time(granted_at),
                self._time(last_used_at),
                reviewer_id,
                Decision.PENDING.value,
                "",
                self.now,
                self.now,
            )
        )
        return self.flush() if len(self.rows) >= BATCH_SIZE else 0

    def flush(self) -> int:
        rows, self.rows = self.rows, []
        if not rows:
            return 0
        with self.connection.cursor() as cursor:
            if self.postgres:
                with cursor.cursor.copy(self.copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(self.insert_sql, rows)
        return len(rows)


def definition_of(template: ReviewTemplate) -> dict[str, Any]:
    return {
        "template": template.slug,
        "scope": template.scope,
        "tiers": list(template.tiers or []),
        "compliance_scopes": list(template.compliance_scopes or []),
        "systems": sorted(template.systems.values_list("slug", flat=True)),
        "reviewer": template.reviewer,
        "cadence_months": template.cadence_months,
        "due_business_days": template.due_business_days,
        "undecided_rule": template.undecided_rule,
    }


def start_campaign(
    template: ReviewTemplate,
    *,
    actor,
    now: datetime.datetime | None = None,
    progress: Callable[[int], Any] | None = None,
) -> ReviewCampaign:
    """Start a campaign now: snapshot the population, assign reviewers, set the due date. One transaction.

    `progress(n)` is called after each batch of n items written (the command's progress bar).
    """
    require(actor, PERM_RUN)
    if template.pk is None:
        raise ValidationError({"template": "A saved template is required."})
    if not template.is_active:
        raise ValidationError({"template": f"The template {template.slug} is inactive."})
    now = now or timezone.now()
    clock = default_clock()
    due_at = due_after(clock, now, template.due_business_days or 10)
    system_ids = list(scope_systems(template).values_list("pk", flat=True))
    picker = ReviewerPicker(template.reviewer, template.fallback_reviewer, system_ids)
    hasher = SnapshotHasher()
    with transaction.atomic():
        campaign = ReviewCampaign(
            template=template,
            name=f"{template.name} {now.date().isoformat()}"[:250],
            definition=definition_of(template),
            started_at=now,
            due_at=due_at,
            undecided_rule=template.undecided_rule,
            fallback_reviewer=template.fallback_reviewer,
            snapshot_source=describe_source(template),
            snapshot_taken_at=now,
        )
        campaign.full_clean()
        campaign.save()
        rows = population(template).order_by("pk").values_list(*_ROW_FIELDS)
        writer = _ItemWriter(campaign.pk, now)
        for (
            grant_id,
            person_id,
            email,
            name,
            status,
            manager_id,
            manager_email,
            entitlement,
            privilege,
            owner_id,
            system_id,
            granted_at,
            last_used_at,
        ) in rows.iterator(chunk_size=BATCH_SIZE):
            snapshot = (
                grant_id,
                system_id,
                email,
                name,
                status,
                manager_email or "",
                entitlement,
                privilege,
                granted_at,
                last_used_at,
            )
            hasher.add([*snapshot[:8], canonical_time(granted_at), canonical_time(last_used_at)])
            reviewer_id = picker.pick(
                {
                    "person_id": person_id,
                    "system_id": system_id,
                    "manager_id": manager_id,
                    "owner_id": owner_id,
                }
            )
            written = writer.add(snapshot, reviewer_id)
            if written and progress:
                progress(written)
        written = writer.flush()
        if written and progress:
            progress(written)
        campaign.snapshot_rows = hasher.rows
        campaign.snapshot_sha256 = hasher.hexdigest()
        campaign.save(update_fields=["snapshot_rows", "snapshot_sha256"])
        changes = {k: [None, v] for k, v in campaign.audit_snapshot().items() if v not in (None, "", [], {})}
        record_events(
            [
                EventDraft(
                    action=AuditAction.CREATE,
                    object_type=ReviewCampaign.audit_label(),
                    object_id=str(campaign.pk),
                    object_repr=str(campaign)[:200],
                    changes=changes,
                )
            ]
        )
    return campaign


def snapshot_count_estimate(template: ReviewTemplate) -> int:
    return population(template).count()


# --- reads ------------------------------------------------------------------------------------------------------


def _signed_in(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)


def sees_all(user) -> bool:
    return _signed_in(user) and user.has_perm(PERM_READ_ALL)


def can_manage(user) -> bool:
    return _signed_in(user) and user.has_perm(PERM_MANAGE)


def visible_campaigns(user) -> QuerySet[ReviewCampaign]:
    """Every campaign for admins, compliance analysts and auditors; a reviewer's campaigns for the others."""
    if not _signed_in(user):
        return ReviewCampaign.objects.none()
    qs = ReviewCampaign.objects.select_related("template", "fallback_reviewer")
    if sees_all(user):
        return qs
    mine = ReviewItem.objects.filter(reviewer=user.pk).values("campaign_id")
    return qs.filter(pk__in=mine)


def _pk(value) -> int:
    try:
        value = int(value)
    except (TypeError, ValueError):
        raise Http404("Not found.") from None
    if not 0 < value < 2**63:
        raise Http404("Not found.")
    return value


def get_campaign(user, pk) -> ReviewCampaign:
    campaign = visible_campaigns(user).filter(pk=_pk(pk)).first()
    if campaign is None:
        raise Http404("No such campaign.")
    return campaign


def visible_items(user, campaign: ReviewCampaign | None = None) -> QuerySet[ReviewItem]:
    """Items the user may read: all for PERM_READ_ALL, else the ones assigned to them."""
    if not _signed_in(user):
        return ReviewItem.objects.none()
    qs = ReviewItem.objects.all()
    if campaign is not None:
        qs = qs.filter(campaign=campaign)
    if not sees_all(user):
        qs = qs.filter(reviewer=user.pk)
    return qs


def item_list(user, campaign: ReviewCampaign | None = None) -> QuerySet[ReviewItem]:
    """For pages and the API: related rows selected, in id order (the reviewer index serves the filter)."""
    return (
        visible_items(user, campaign)
        .select_related("system", "reviewer", "decided_by", "modify_to", "grant", "campaign")
        .order_by("id")
    )


def get_item(user, pk) -> ReviewItem:
    item = item_list(user).filter(pk=_pk(pk)).first()
    if item is None:
        raise Http404("No such review item.")
    return item


def progress_by_reviewer(campaign: ReviewCampaign) -> list[dict[str, Any]]:
    """[{reviewer_id, reviewer, decided, undecided, total}], undecided first; one grouped query."""
    from gatehouse.users.models import User

    rows = (
        ReviewItem.objects.filter(campaign=campaign)
        .values("reviewer_id")
        .annotate(
            total=Count("id"),
            undecided=Count("id", filter=Q(decision=Decision.PENDING)),
        )
        .order_by()
    )
    rows = list(rows)
    users = {
        u.pk: u for u in User.objects.filter(pk__in=[r["reviewer_id"] for r in rows if r["reviewer_id"]])
    }
    result = [
        {
            "reviewer_id": r["reviewer_id"],
            "reviewer": users.get(r["reviewer_id"]),
            "total": r["total"],
            "undecided": r["undecided"],
            "decided": r["total"] - r["undecided"],
        }
        for r in rows
    ]
    result.sort(key=lambda r: (-r["undecided"], str(r["reviewer"] or "")))
    return result


def totals(progress: list[dict[str, Any]]) -> dict[str, int]:
    total = sum(r["total"] for r in progress)
    decided = sum(r["decided"] for r in progress)
    return {
        "total": total,
        "decided": decided,
        "undecided": total - decided,
        "percent": round(100 * decided / total) if total else 100,
    }


def pending_for(user) -> list[dict[str, Any]]:
    """The user's open campaigns with their undecided counts."""
    if not _signed_in(user):
        return []
    rows = (
        ReviewItem.objects.filter(
            reviewer=user.pk, decision=Decision.PENDING, campaign__state=ReviewCampaign.State.OPEN
        )
        .values("campaign_id")
        .annotate(undecided=Count("id"))
        .order_by()
    )
    counts = {r["campaign_id"]: r["undecided"] for r in rows}
    campaigns = ReviewCampaign.objects.filter(pk__in=list(counts)).order_by("due_at")
    return [{"campaign": c, "undecided": counts[c.pk]} for c in campaigns]


# --- decisions ------------------------------------------------------------------------------------------------


def _check_decider(actor, item: ReviewItem) -> None:
    if not _signed_in(actor):
        raise PermissionDenied("Sign in to decide.")
    holder = item.grant.person_id
    if getattr(actor, "person_id", None) is not None and actor.person_id == holder:
        raise PermissionDenied("Nobody reviews their own access.")
    if item.reviewer_id != actor.pk and not actor.has_perm(PERM_DECIDE_ANY):
        raise PermissionDenied("This item is assigned to another reviewer.")


def _clean_decision(item: ReviewItem, decision: str, reason: str, modify_to) -> dict[str, Any]:
    errors: dict[str, str] = {}
    if item.campaign.state != ReviewCampaign.State.OPEN:
        errors["campaign"] = "The campaign is closed."
    if item.decision != Decision.PENDING:
        errors["decision"] = f"Already decided ({item.get_decision_display().lower()})."
    if decision not in (Decision.KEEP, Decision.REVOKE, Decision.MODIFY):
        errors["decision"] = "Choose keep, revoke or modify."
    reason = (reason or "").strip()
    if decision == Decision.REVOKE and not reason:
        errors["reason"] = "A reason is required to revoke."
    if decision == Decision.MODIFY:
        if modify_to is None:
            errors["modify_to"] = "Choose the entitlement the access changes to."
        elif modify_to.system_id != item.system_id:
            errors["modify_to"] = "The new entitlement must be in the same system."
        elif modify_to.pk == item.grant.entitlement_id:
            errors["modify_to"] = "That is the entitlement held now."
    elif modify_to is not None:
        errors["modify_to"] = "Only a modify decision takes a new entitlement."
    if len(reason) > 2000:
        errors["reason"] = "At most 2,000 characters."
    if errors:
        raise ValidationError(errors)
    return {"decision": decision, "reason": reason, "modify_to": modify_to}


def _open_tasks(item: ReviewItem, *, actor) -> list[FulfilmentTask]:
    """A revoke (and for modify, a grant of the new entitlement) for the system's fulfillers."""
    from gatehouse.access.fulfilment import create_task

    grant = item.grant
    tasks = []
    if item.decision in (Decision.REVOKE, Decision.MODIFY) and grant.ended_at is None:
        tasks.append(
            create_task(
                actor=actor,
                kind=FulfilmentTask.Kind.REVOKE,
                reason=FulfilmentTask.Reason.REVIEW,
                person=grant.person,
                entitlement=grant.entitlement,
                grant=grant,
                review_item=item,
            )
        )
    if item.decision == Decision.MODIFY and item.modify_to is not None:
        holds = Grant.objects.filter(
            person=grant.person_id, entitlement=item.modify_to, ended_at__isnull=True
        )
        if not holds.exists():
            tasks.append(
                create_task(
                    actor=actor,
                    kind=FulfilmentTask.Kind.GRANT,
                    reason=FulfilmentTask.Reason.REVIEW,
                    person=grant.person,
                    entitlement=item.modify_to,
                    review_item=item,
                )
            )
    return tasks


def decide_item(
    item: ReviewItem, *, actor, decision: str, reason: str = "", modify_to: Entitlement | None = None
) -> ReviewItem:
    """Keep, revoke or modify one item. Revoke and modify open fulfilment tasks. Safe against double clicks:
    the item row is locked and a decided item is never decided again."""
    with transaction.atomic():
        item = (
            ReviewItem.objects.select_for_update(of=("self",))
            .select_related("campaign", "grant", "grant__person", "grant__entitlement")
            .get(pk=item.pk)
        )
        _check_decider(actor, item)
        fields = _clean_decision(item, decision, reason, modify_to)
        fields.update({"decided_by": actor, "decided_at": timezone.now()})
        item, _ = update_object(item, fields=fields, validate=False)
        _open_tasks(item, actor=actor)
    return item


def bulk_decide(
    items: Iterable[ReviewItem | int], *, actor, decision: str, reason: str = ""
) -> list[ReviewItem]:
    """Keep or revoke several items with one reason; all or nothing (every problem named by item id)."""
    ids = sorted({getattr(i, "pk", i) for i in items})
    if not ids:
        raise ValidationError({"items": "Choose at least one item."})
    if len(ids) > MAX_BULK:
        raise ValidationError({"items": f"At most {MAX_BULK} items at once."})
    if decision == Decision.MODIFY:
        raise ValidationError({"decision": "Modify one item at a time: it needs the new entitlement."})
    with transaction.atomic():
        locked = list(
            ReviewItem.objects.select_for_update(of=("self",))
            .select_related("campaign", "grant", "grant__person", "grant__entitlement")
            .filter(pk__in=ids)
            .order_by("pk")
        )
        found = {i.pk for i in locked}
        missing = [i for i in ids if i not in found]
        if missing:
            raise ValidationError({"items": f"No such review item: {', '.join(map(str, missing[:10]))}."})
        errors: dict[str, str] = {}
        for item in locked:
            try:
                _check_decider(actor, item)
                _clean_decision(item, decision, reason, None)
            except PermissionDenied as exc:
                errors[f"items.{item.pk}"] = str(exc)
            except ValidationError as exc:
                errors[f"items.{item.pk}"] = " ".join(m for ms in exc.message_dict.values() for m in ms)
        if errors:
            if any("reason" in m for m in errors.values()) and not (reason or "").strip():
                raise ValidationError({"reason": "A reason is required to revoke."})
            raise ValidationError(errors)
        now = timezone.now()
        reason = (reason or "").strip()
        ReviewItem.objects.filter(pk__in=ids).update(
            decision=decision, reason=reason, decided_by=actor, decided_at=now, last_updated=now
        )
        drafts = []
        for item in locked:
            changes = {"decision": [Decision.PENDING.value, decision], "decided_by": [None, actor.pk]}
            changes["decided_at"] = [None, now.isoformat()]
            if reason:
                changes["reason"] = [item.reason, reason]
            item.decision, item.reason, item.decided_by, item.decided_at = decision, reason, actor, now
            drafts.append(
                EventDraft(
                    AuditAction.UPDATE, ReviewItem.audit_label(), str(item.pk), str(item)[:200], changes
                )
            )
        record_events(drafts)
        for item in locked:
            _open_tasks(item, actor=actor)
    return locked


def _give_to(items: list[ReviewItem], reviewer, now: datetime.datetime) -> None:
    """Move items to a reviewer in one update, with one audit event per item (reassignment, escalation)."""
    ReviewItem.objects.filter(pk__in=[i.pk for i in items]).update(reviewer=reviewer, last_updated=now)
    record_events(
        [
            EventDraft(
                AuditAction.UPDATE,
                ReviewItem.audit_label(),
                str(i.pk),
                str(i)[:200],
                {"reviewer": [i.reviewer_id, reviewer.pk]},
            )
            for i in items
        ]
    )


def reassign(items: ReviewItem | Iterable[ReviewItem | int], *, actor, reviewer) -> int:
    """Give undecided items to another reviewer (admins, compliance analysts). Returns how many changed."""
    require(actor, PERM_MANAGE)
    if isinstance(items, ReviewItem | int):
        items = [items]
    ids = sorted({getattr(i, "pk", i) for i in items})
    if not ids:
        raise ValidationError({"items": "Choose at least one item."})
    if len(ids) > MAX_BULK:
        raise ValidationError({"items": f"At most {MAX_BULK} items at once."})
    if reviewer is None or not getattr(reviewer, "is_active", False):
        raise ValidationError({"reviewer": "Choose an active user."})
    if getattr(reviewer, "person_id", None) is None:
        raise ValidationError({"reviewer": f"{reviewer} is not linked to a person of the directory."})
    with transaction.atomic():
        locked = list(
            ReviewItem.objects.select_for_update(of=("self",))
            .select_related("campaign", "grant")
            .filter(pk__in=ids)
            .order_by("pk")
        )
        found = {i.pk for i in locked}
        errors: dict[str, str] = {}
        for pk in ids:
            if pk not in found:
                errors[f"items.{pk}"] = "No such review item."
        for item in locked:
            if item.campaign.state != ReviewCampaign.State.OPEN:
                errors[f"items.{item.pk}"] = "The campaign is closed."
            elif item.decision != Decision.PENDING:
                errors[f"items.{item.pk}"] = "Already decided."
            elif item.grant.person_id == reviewer.person_id:
                errors[f"items.{item.pk}"] = f"{reviewer} holds this access; nobody reviews their own access."
        if errors:
            raise ValidationError(errors)
        changed = [i for i in locked if i.reviewer_id != reviewer.pk]
        if not changed:
            return 0
        _give_to(changed, reviewer, timezone.now())
        _notify_after_commit(
            [reviewer.pk], f"Access review: {len(changed)} items reassigned to you", locked[0].campaign
        )
    return len(changed)


@dataclass
class CloseResult:
    campaign: ReviewCampaign
    closed: bool
    applied: str
    count: int


def close_campaign(campaign: ReviewCampaign, *, actor, now: datetime.datetime | None = None) -> CloseResult:
    """Close the campaign, applying its rule to undecided items: keep or revoke them (decided by Gatehouse,
    reason naming the rule; revokes open tasks), or, with escalate, give them to the fallback reviewer and
    leave the campaign open until they are decided."""
    require(actor, PERM_MANAGE)
    now = now or timezone.now()
    with transaction.atomic():
        campaign = ReviewCampaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.state != ReviewCampaign.State.OPEN:
            raise ValidationError({"state": "The campaign is already closed."})
        undecided = ReviewItem.objects.filter(campaign=campaign, decision=Decision.PENDING)
        rule = campaign.undecided_rule
        if rule == UndecidedRule.ESCALATE:
            pending = list(undecided.select_related("grant").order_by("pk"))
            if pending:
                fallback = campaign.fallback_reviewer
                movable = (
                    [
                        i
                        for i in pending
                        if fallback.person_id is None or i.grant.person_id != fallback.person_id
                    ]
                    if fallback
                    else []
                )
                movable = [i for i in movable if i.reviewer_id != fallback.pk]
                if movable:
                    _give_to(movable, fallback, now)
                    _notify_after_commit(
                        [fallback.pk], f"Access review escalated to you: {len(movable)} undecided", campaign
                    )
                return CloseResult(campaign, False, rule, len(pending))
        count = 0
        if rule in (UndecidedRule.KEEP, UndecidedRule.REVOKE):
            reason = f"Undecided when the campaign closed; the campaign's rule is {rule}."
            pending = list(
                undecided.select_related("grant", "grant__person", "grant__entitlement").order_by("pk")
            )
            count = len(pending)
            undecided.update(decision=rule, reason=reason, decided_at=now, last_updated=now)
            record_events(
                [
                    EventDraft(
                        AuditAction.UPDATE,
                        ReviewItem.audit_label(),
                        str(i.pk),
                        str(i)[:200],
                        {"decision": [Decision.PENDING.value, rule], "reason": ["", reason]},
                    )
                    for i in pending
                ]
            )
            if rule == UndecidedRule.REVOKE:
                for item in pending:
                    item.decision, item.reason, item.decided_at = rule, reason, now
                    _open_tasks(item, actor=actor)
        campaign, _ = update_object(
            campaign, fields={"state": ReviewCampaign.State.CLOSED, "closed_at": now}, validate=False
        )
    return CloseResult(campaign, True, rule, count)


# --- templates ----------------------------------------------------------------------------------------------------

TEMPLATE_FIELDS = {
    "slug",
    "name",
    "scope",
    "tiers",
    "compliance_scopes",
    "reviewer",
    "fallback_reviewer",
    "cadence_months",
    "due_business_days",
    "undecided_rule",
    "next_run_on",
    "is_active",
}


def _check_template(fields: dict[str, Any]) -> None:
    from gatehouse.catalog.models import ComplianceScope

    errors: dict[str, str] = {name: "Unknown field." for name in sorted(set(fields) - TEMPLATE_FIELDS)}
    tiers = fields.get("tiers")
    if tiers is not None and (
        not isinstance(tiers, list) or any(not isinstance(t, int) or t not in (1, 2, 3, 4) for t in tiers)
    ):
        errors["tiers"] = "A list of tiers 1 to 4."
    scopes = fields.get("compliance_scopes")
    if scopes is not None:
        if not isinstance(scopes, list) or any(not isinstance(s, str) for s in scopes):
            errors["compliance_scopes"] = 'A list of compliance scope codes, e.g. ["sox"].'
        else:
            known = set(ComplianceScope.objects.filter(code__in=scopes).values_list("code", flat=True))
            unknown = sorted(set(scopes) - known)
            if unknown:
                errors["compliance_scopes"] = f"Unknown compliance scope: {', '.join(unknown)}."
    if "cadence_months" in fields and not (1 <= (fields["cadence_months"] or 0) <= 60):
        errors["cadence_months"] = "Between 1 and 60 months."
    if "due_business_days" in fields and not (1 <= (fields["due_business_days"] or 0) <= 100):
        errors["due_business_days"] = "Between 1 and 100 business days."
    fallback = fields.get("fallback_reviewer")
    if fallback is not None and not fallback.is_active:
        errors["fallback_reviewer"] = f"{fallback} cannot sign in."
    if errors:
        raise ValidationError(errors)


def create_template(*, actor, systems: Iterable[System] = (), **fields: Any) -> ReviewTemplate:
    require(actor, "access.add_reviewtemplate")
    _check_template(fields)
    return create_object(ReviewTemplate, fields=fields, m2m={"systems": list(systems)})


def update_template(
    template: ReviewTemplate, *, actor, systems: Iterable[System] | None = None, **fields: Any
) -> ReviewTemplate:
    require(actor, "access.change_reviewtemplate", template)
    _check_template(fields)
    m2m = {"systems": list(systems)} if systems is not None else None
    template, _ = update_object(template, fields=fields, m2m=m2m)
    return template


def visible_templates(user) -> QuerySet[ReviewTemplate]:
    if not _signed_in(user) or not user.has_perm("access.view_reviewtemplate"):
        return ReviewTemplate.objects.none()
    return ReviewTemplate.objects.select_related("fallback_reviewer").prefetch_related("systems")


def get_template(user, slug: str) -> ReviewTemplate:
    template = visible_templates(user).filter(slug=str(slug)[:100]).first()
    if template is None:
        raise Http404("No such template.")
    return template


# --- scheduled work -------------------------------------------------------------------------------------------


def start_due_reviews(*, actor, today: datetime.date | None = None) -> list[ReviewCampaign]:
    """Start a campaign for every active template whose next_run_on has come; move it on by its cadence
    (past today, so a missed month starts one campaign, not several)."""
    today = today or timezone.localdate()
    started = []
    for template in ReviewTemplate.objects.filter(is_active=True, next_run_on__lte=today).order_by("pk"):
        campaign = start_campaign(template, actor=actor)
        next_run = template.next_run_on
        while next_run <= today:
            next_run = add_months(next_run, template.cadence_months or 3)
        update_object(template, fields={"next_run_on": next_run}, validate=False)
        started.append(campaign)
    return started


def review_reminders(*, now: datetime.datetime | None = None) -> dict[str, int]:
    """Remind reviewers with undecided items 5, 3 and 2 business days before the due date, and escalate to the
    fallback reviewer on the due date. Each is sent once (reminders_sent); when the job missed a stage, only the
    latest one due is sent and the earlier are recorded as skipped."""
    now = now or timezone.now()
    clock = default_clock()
    today = now.astimezone(clock.zone).date()
    sent = {"reminders": 0, "escalations": 0}
    for campaign in ReviewCampaign.objects.filter(state=ReviewCampaign.State.OPEN).select_related(
        "fallback_reviewer"
    ):
        done = dict(campaign.reminders_sent or {})
        due_day = due_date(clock, campaign.due_at)
        stages = [(str(n), open_dates_before(clock, campaign.due_at, n)) for n in REMINDER_DAYS]
        stages.append((ESCALATION, due_day))
        reached = [name for name, day in stages if day <= today and name not in done]
        if not reached:
            continue
        latest = reached[-1]
        for name in reached[:-1]:
            done[name] = "skipped"
        reviewers = list(
            ReviewItem.objects.filter(campaign=campaign, decision=Decision.PENDING, reviewer__isnull=False)
            .order_by()
            .values_list("reviewer_id", flat=True)
            .distinct()
        )
        if latest == ESCALATION:
            if campaign.fallback_reviewer_id:
                _notify_after_commit(
                    [campaign.fallback_reviewer_id], f"Access review due today: {campaign.name}", campaign
                )
                sent["escalations"] += 1
            _notify_after_commit(reviewers, f"Access review due today: {campaign.name}", campaign)
        else:
            _notify_after_commit(
                reviewers, f"Access review due in {latest} business days: {campaign.name}", campaign
            )
            sent["reminders"] += len(reviewers)
        done[latest] = now.isoformat()
        # reminders_sent is bookkeeping (audit_exclude): a plain update, no audit event.
        ReviewCampaign.objects.filter(pk=campaign.pk).update(reminders_sent=done)
    return sent


def _notify_after_commit(user_ids: list[int], subject: str, campaign: ReviewCampaign) -> None:
    user_ids = sorted({u for u in user_ids if u})
    if user_ids:
        campaign_id = campaign.pk
        transaction.on_commit(lambda: send_review_mail(user_ids, subject, campaign_id))


@job(retries=3, retry_delay=60)
def send_review_mail(user_ids: list[int], subject: str, campaign_id: int) -> int:
    """Mail each reviewer their undecided count and the link to their page."""
    from django.urls import reverse

    from gatehouse.users.models import User

    campaign = ReviewCampaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return 0
    base = getattr(settings, "BASE_URL", "").rstrip("/")
    link = base + reverse("access:review_items", args=[campaign.pk]) + "?reviewer=me"
    counts = dict(
        ReviewItem.objects.filter(campaign=campaign, decision=Decision.PENDING, reviewer_id__in=user_ids)
        .values_list("reviewer_id")
        .annotate(n=Count("id"))
        .order_by()
    )
    sent = 0
    for user in User.objects.filter(pk__in=user_ids, is_active=True).select_related("person"):
        email = (user.email or getattr(user.person, "email", "") or "").strip()
        if not email:
            continue
        body = (
            f"{campaign.name}\n\nYou have {counts.get(user.pk, 0)} undecided items. "
            f"Due {campaign.due_at:%Y-%m-%d %H:%M} UTC.\n\n{link}\n"
        )
        EmailMessage(subject=subject[:200], body=body, to=[email]).send()
        sent += 1
    return sent
