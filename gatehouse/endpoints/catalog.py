"""What devices are checked against: the OS release catalog and the platform policies.

`change_policy` changes a platform policy (audited) and, after the commit, has the worker check that platform's
devices again (`checks.recheck_later`). The OS release catalog: importing a CSV (platform, line, version,
released_on) into it, audited.

Rows are matched by (platform, version): new versions are added, a changed line or release date is updated, the
rest are left alone; nothing is deleted (remove a release in the admin pages or through the API). All or nothing:
one bad row rejects the file (see `defaults.read_catalog`)."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from gatehouse.core.permissions import require
from gatehouse.core.services import create_object, update_object
from gatehouse.endpoints.defaults import read_catalog
from gatehouse.endpoints.models import OsRelease, PlatformPolicy

POLICY_FIELDS = (
    "required_sources",
    "max_agent_age_days",
    "minimum_os_version",
    "patch_window_days",
    "require_disk_encryption",
)


def change_policy(policy: PlatformPolicy, *, actor, fields: dict) -> dict:
    """Change a platform policy; returns the changes ({field: [before, after]}). The platform's devices are
    checked again by the worker after the commit when anything changed."""
    from gatehouse.endpoints.checks import recheck_later

    require(actor, "endpoints.change_platformpolicy")
    unknown = sorted(set(fields) - set(POLICY_FIELDS))
    if unknown:
        raise ValueError(f"not a policy field: {', '.join(unknown)}")
    with transaction.atomic():
        _, changes = update_object(policy, fields=fields)
        if changes:
            platform = policy.platform
            transaction.on_commit(lambda: recheck_later(platform))
    return changes


@dataclass
class CatalogImport:
    created: int = 0
    changed: int = 0
    unchanged: int = 0


def import_os_releases(lines, *, actor, progress=None) -> CatalogImport:
    """Import catalog CSV lines; raises defaults.CatalogError (naming the row and field) before writing."""
    require(actor, "endpoints.add_osrelease")
    require(actor, "endpoints.change_osrelease")
    rows = read_catalog(lines)
    existing = {(r.platform, r.version): r for r in OsRelease.objects.all()}
    result = CatalogImport()
    with transaction.atomic():
        for row in progress(rows, total=len(rows), desc="releases") if progress else rows:
            release = existing.get((row["platform"], row["version"]))
            if release is None:
                create_object(OsRelease, fields=row)
                result.created += 1
                continue
            _, changes = update_object(
                release, fields={"line": row["line"], "released_on": row["released_on"]}
            )
            if changes:
                result.changed += 1
            else:
                result.unchanged += 1
    return result
