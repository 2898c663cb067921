"""The endpoints module's defaults: one platform policy per platform, and the OS release catalog.

Seeded after `migrate` (post_migrate), like the desk's defaults: policies into a table that has none, the
catalog (`data/os_releases.csv`) into an empty catalog. Seeding is installation, not a change someone made, so it
writes no audit events; admins edit both afterwards through the services (audited), and a table that has rows is
never touched, so their changes are never overwritten.

Required sources name a feed (`jamf`) or a kind of feed (`edr`, `mdm`, `anti_theft`: any feed of that kind
satisfies it); `sentinelone|crowdstrike` also works (any of them).
"""

from __future__ import annotations

import csv
import datetime
from pathlib import Path

from django.db import transaction

CATALOG_FILE = Path(__file__).resolve().parent / "data" / "os_releases.csv"

POLICIES = [
    {"platform": "macos", "required_sources": ["jamf", "edr"], "minimum_os_version": "14.0"},
    {"platform": "windows", "required_sources": ["jamf", "edr"], "minimum_os_version": "10.0.19045"},
    {"platform": "linux", "required_sources": ["edr", "drivestrike"], "minimum_os_version": "22.04"},
]
CATALOG_COLUMNS = ("platform", "line", "version", "released_on")


class CatalogError(ValueError):
    """A catalog row that cannot be read: names the row (1-based, after the header) and the field."""

    def __init__(self, row: int, field: str, message: str):
        self.row, self.field = row, field
        super().__init__(f"row {row}, {field}: {message}")


def read_catalog(lines) -> list[dict]:
    """Parse catalog CSV lines (header platform,line,version,released_on) into dicts; raises CatalogError."""
    from gatehouse.endpoints.models import Platform

    reader = csv.DictReader(lines)
    missing = [c for c in CATALOG_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise CatalogError(0, missing[0], "column missing from the header")
    rows, seen = [], set()
    for number, row in enumerate(reader, start=1):
        values = {c: (row.get(c) or "").strip() for c in CATALOG_COLUMNS}
        if values["platform"] not in Platform.values:
            raise CatalogError(number, "platform", f"unknown platform {values['platform']!r}")
        for name in ("line", "version"):
            if not values[name]:
                raise CatalogError(number, name, "required")
        try:
            values["released_on"] = datetime.date.fromisoformat(values["released_on"])
        except ValueError:
            raise CatalogError(number, "released_on", "not a date (YYYY-MM-DD)") from None
        key = (values["platform"], values["version"])
        if key in seen:
            raise CatalogError(number, "version", f"{values['version']} appears twice")
        seen.add(key)
        rows.append(values)
    return rows


def ensure_defaults(using: str = "default") -> bool:
    """Seed policies into an empty policy table and the shipped catalog into an empty catalog."""
    from gatehouse.endpoints.models import OsRelease, PlatformPolicy

    seeded = False
    with transaction.atomic(using=using):
        if not PlatformPolicy.objects.using(using).exists():
            PlatformPolicy.objects.using(using).bulk_create(PlatformPolicy(**spec) for spec in POLICIES)
            seeded = True
        if not OsRelease.objects.using(using).exists() and CATALOG_FILE.exists():
            with CATALOG_FILE.open(newline="", encoding="utf-8") as handle:
                rows = read_catalog(handle)
            OsRelease.objects.using(using).bulk_create(OsRelease(**row) for row in rows)
            seeded = True
    return seeded


def seed_after_migrate(sender=None, using: str = "default", **kwargs) -> None:
    ensure_defaults(using)
