"""Writes to the system catalog. Each is one transaction with its audit event inside."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any

from django.core.exceptions import ValidationError

from gatehouse.catalog.models import ComplianceScope, ContactRole, System, SystemContact
from gatehouse.core.permissions import require
from gatehouse.core.services import create_object, delete_object, update_object
from gatehouse.directory.models import Person, Team

SYSTEM_FIELDS = {
    "slug",
    "name",
    "description",
    "label",
    "owner_team",
    "chat_channel",
    "tier",
    "data_classification",
    "auth_method",
    "scim_supported",
    "baseline_entitlement",
    "is_subprocessor",
    "audience",
    "vendor",
    "access_to",
    "handbook_link",
    "access_request_url",
    "issue_template_url",
    "notes",
    "extra",
    "source_keys",
    "source_values",
    "import_problems",
}
Party = Person | Team
Contacts = Mapping[str, Iterable[Party]]


def party_key(party: Party) -> str:
    return f"person:{party.email}" if isinstance(party, Person) else f"team:{party.slug}"


def _check(fields: dict[str, Any], contacts: Contacts | None) -> None:
    errors = {name: "Unknown field." for name in sorted(set(fields) - SYSTEM_FIELDS)}
    for role in contacts or {}:
        if role not in ContactRole.values:
            errors[role] = "Unknown contact role."
    if errors:
        raise ValidationError(errors)


def _scopes(codes: Iterable[str]) -> list[ComplianceScope]:
    codes = sorted(set(codes))
    found = {s.code: s for s in ComplianceScope.objects.filter(code__in=codes)}
    missing = [c for c in codes if c not in found]
    if missing:
        raise ValidationError({"compliance_scopes": f"Unknown compliance scope: {', '.join(missing)}."})
    return [found[c] for c in codes]


def _contacts_writer(contacts: Contacts | None):
    """Replace the contacts of the given roles; report each changed role as before and after keys."""

    def write(system: System) -> dict[str, list[Any]]:
        changes: dict[str, list[Any]] = {}
        if not contacts:
            return changes
        existing: dict[str, list[SystemContact]] = {}
        for contact in system.contacts.select_related("person", "team"):
            existing.setdefault(contact.role, []).append(contact)
        for role, parties in contacts.items():
            parties = list(dict.fromkeys(parties))  # keep order, drop repeats
            before = [c.key for c in existing.get(role, [])]
            after = [party_key(p) for p in parties]
            if before == after:
                continue
            SystemContact.objects.filter(system=system, role=role).delete()
            SystemContact.objects.bulk_create(
                SystemContact(
                    system=system,
                    role=role,
                    person=p if isinstance(p, Person) else None,
                    team=p if isinstance(p, Team) else None,
                    position=i,
                )
                for i, p in enumerate(parties)
            )
            changes[f"{role}s"] = [before, after]
        return changes

    return write


def _effective_tier(system: System, fields: dict[str, Any], scope_codes: set[str]) -> int | None:
    probe = copy.copy(system)
    for name, value in fields.items():
        setattr(probe, name, value)
    return probe.compute_effective_tier(scope_codes)


def create_system(
    *, actor, contacts: Contacts | None = None, compliance_scopes: Iterable[str] = (), **fields: Any
) -> System:
    require(actor, "catalog.add_system")
    _check(fields, contacts)
    scopes = _scopes(compliance_scopes)
    fields["effective_tier"] = _effective_tier(System(), fields, {s.code for s in scopes})
    return create_object(
        System, fields=fields, m2m={"compliance_scopes": scopes}, related=_contacts_writer(contacts)
    )


def update_system(
    system: System,
    *,
    actor,
    contacts: Contacts | None = None,
    compliance_scopes: Iterable[str] | None = None,
    **fields: Any,
) -> System:
    require(actor, "catalog.change_system", system)
    _check(fields, contacts)
    if compliance_scopes is not None:
        scopes = _scopes(compliance_scopes)
        codes = {s.code for s in scopes}
        m2m = {"compliance_scopes": scopes}
    else:
        codes = set(system.compliance_scopes.values_list("code", flat=True))
        m2m = None
    fields["effective_tier"] = _effective_tier(system, fields, codes)
    system, _ = update_object(system, fields=fields, m2m=m2m, related=_contacts_writer(contacts))
    return system


def delete_system(system: System, *, actor) -> None:
    require(actor, "catalog.delete_system", system)
    delete_object(system)
