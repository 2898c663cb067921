"""Source sync: reconcile a connected group's members into grants.

The connected systems are authoritative for membership: an Okta, Google or GitLab group *is* the access. So
`sync_entitlement`:
- starts a grant (source sync) for every member matched to a person (by email) who has no live grant;
- ends, with the reason "not in <system> at sync", every live grant whose holder is no longer a member (the
  access is already gone downstream: keeping the grant would misstate who holds what);
- reports, without writing, members it cannot match to a person (unknown emails) and members who left the
  company (terminated people still in the group: drift that needs a revoke, see `drift`), so people act on it;
- records last_used_at on grants where the system reports it (bookkeeping in bulk, one audit event per sync).

Nothing is written when the member list cannot be read completely (the connector error is raised first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from huey import crontab

from gatehouse.access.connectors import ConnectorError, connector_class, get_connector
from gatehouse.access.models import Entitlement, Grant, GrantSource
from gatehouse.audit.services import AuditAction, EventDraft, record_events
from gatehouse.core.jobs import scheduled_job
from gatehouse.core.permissions import require
from gatehouse.directory.models import Person, PersonStatus


@dataclass
class SyncResult:
    entitlement: Entitlement
    members: int = 0
    started: list[str] = field(default_factory=list)  # emails granted now
    ended: list[str] = field(default_factory=list)  # emails whose grant ended (no longer a member)
    unmatched: list[str] = field(default_factory=list)  # member emails (or ids) with no person
    drift: list[str] = field(default_factory=list)  # leavers still in the group
    last_used_updated: int = 0

    def summary(self) -> str:
        return (
            f"{self.entitlement}: {self.members} members, {len(self.started)} granted, {len(self.ended)} ended, "
            f"{len(self.unmatched)} unmatched, {len(self.drift)} leavers still in the group, "
            f"{self.last_used_updated} last-used dates"
        )


def sync_entitlement(entitlement: Entitlement, *, actor) -> SyncResult:
    """Reconcile the entitlement's group members into grants. Raises ConnectorError (nothing written) when
    the connector cannot list the members, ValueError when the entitlement has no connector."""
    from gatehouse.access import grants

    require(actor, "access.add_grant", entitlement)
    require(actor, "access.change_grant", entitlement)
    connector = get_connector(entitlement)
    if connector is None:
        raise ValueError(f"{entitlement} has no connector; there is nothing to sync")
    members = connector.list_members(entitlement)  # raises before anything is written
    result = SyncResult(entitlement=entitlement, members=len(members))
    by_email = {}
    for member in members:
        if member.email:
            by_email[member.email.lower()] = member
        else:
            result.unmatched.append(member.external_id or "(no email)")
    people = {p.email.lower(): p for p in Person.objects.filter(email__in=list(by_email))}
    result.unmatched += sorted(e for e in by_email if e not in people)
    live = {
        g.person_id: g
        for g in Grant.objects.filter(entitlement=entitlement, ended_at__isnull=True).select_related("person")
    }
    label = connector.label
    now = timezone.now()
    with transaction.atomic():
        touched: list[Grant] = []
        member_person_ids = set()
        for email, person in sorted(people.items()):
            member = by_email[email]
            member_person_ids.add(person.pk)
            grant = live.get(person.pk)
            if person.status == PersonStatus.TERMINATED:
                result.drift.append(email)
                if grant is None:
                    continue
            elif grant is None:
                grant = grants.start_grant(
                    actor=actor,
                    person=person,
                    entitlement=entitlement,
                    source=GrantSource.SYNC,
                    started_at=now,
                )
                result.started.append(email)
            if member.last_used_at and grant.last_used_at != member.last_used_at:
                grant.last_used_at = member.last_used_at
                touched.append(grant)
        for person_id, grant in sorted(live.items()):
            if person_id in member_person_ids:
                continue
            grants.end_grant(grant, actor=actor, reason=f"not in {label} at sync")
            result.ended.append(grant.person.email)
        if touched:
            Grant.objects.bulk_update(touched, ["last_used_at"], batch_size=500)
            result.last_used_updated = len(touched)
        record_events(
            [
                EventDraft(
                    action=AuditAction.UPDATE,
                    object_type=entitlement.audit_label(),
                    object_id=str(entitlement.pk),
                    object_repr=str(entitlement)[:200],
                    changes={
                        "sync": [
                            None,
                            {
                                "members": result.members,
                                "granted": len(result.started),
                                "ended": len(result.ended),
                                "unmatched": len(result.unmatched),
                                "leavers_in_group": len(result.drift),
                                "last_used_updated": result.last_used_updated,
                            },
                        ]
                    },
                )
            ]
        )
    return result


def syncable_entitlements(system_slug: str | None = None):
    qs = Entitlement.objects.exclude(connector="").exclude(external_id="").select_related("system")
    if system_slug:
        qs = qs.filter(system__slug=system_slug)
    return qs.order_by("system__name", "name")


def configured(entitlement: Entitlement) -> bool:
    cls = connector_class(entitlement.connector)
    return cls is not None and cls.is_configured()


@scheduled_job(crontab(minute="23", hour="3"))
def sync_access_job() -> dict[str, int]:
    """Daily: sync every connected entitlement whose connector has credentials configured."""
    from gatehouse.core.permissions import SYSTEM

    counts = {"synced": 0, "failed": 0, "skipped": 0}
    for entitlement in syncable_entitlements():
        if not configured(entitlement):
            counts["skipped"] += 1
            continue
        try:
            sync_entitlement(entitlement, actor=SYSTEM)
            counts["synced"] += 1
        except ConnectorError:
            counts["failed"] += 1
    return counts


__all__ = ["SyncResult", "sync_access_job", "sync_entitlement", "syncable_entitlements"]
