"""The demo company's guides (desk tier 1): gatehouse/demo/data/guides/*.md, loaded through the guide services.

Each file is Markdown with YAML front matter:

    ---
    title: Reset your password
    summary: One line shown in lists and suggestions.
    systems: [okta-sso]              # demo system slugs (systems.yml)
    request_types: [account-lockout] # request type slugs (seeded by gatehouse/desk/defaults.py)
    ---
    The body, in Markdown.

The slug is the file name. Loading upserts by slug, so a second load changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from django.core.exceptions import ValidationError

from gatehouse.catalog.models import System
from gatehouse.demo.services import DATA_DIR, DemoError, DemoSummary, Progress, _no_progress, _service_error
from gatehouse.desk.guides import create_guide, update_guide
from gatehouse.desk.models import Guide, RequestType

GUIDES_DIR = DATA_DIR / "guides"
FRONT_MATTER_KEYS = {"title", "summary", "systems", "request_types", "is_published"}


@dataclass
class GuidePlan:
    slug: str
    title: str
    summary: str
    body: str
    systems: list[str]
    request_types: list[str]
    is_published: bool = True


def parse_guide(path: Path) -> GuidePlan:
    """One guide file; a DemoError naming the file when it is malformed."""
    where = f"guides/{path.name}"
    text = path.read_text(encoding="utf-8")
    if not text.startswith("---\n"):
        raise DemoError(f"{where}: must start with front matter between two '---' lines")
    try:
        head, body = text[4:].split("\n---\n", 1)
        meta: Any = yaml.safe_load(head)
    except (ValueError, yaml.YAMLError) as exc:
        raise DemoError(f"{where}: front matter: {exc}") from exc
    if not isinstance(meta, dict):
        raise DemoError(f"{where}: front matter must be a mapping")
    unknown = sorted(set(meta) - FRONT_MATTER_KEYS)
    if unknown:
        raise DemoError(f"{where}: unknown front matter keys {unknown}")
    if not meta.get("title"):
        raise DemoError(f"{where}: front matter needs a title")
    for key in ("systems", "request_types"):
        if not isinstance(meta.get(key, []), list):
            raise DemoError(f"{where}: {key} must be a list of slugs")
    return GuidePlan(
        slug=path.stem,
        title=str(meta["title"]),
        summary=str(meta.get("summary") or ""),
        body=body.strip() + "\n",
        systems=[str(s) for s in meta.get("systems", [])],
        request_types=[str(s) for s in meta.get("request_types", [])],
        is_published=bool(meta.get("is_published", True)),
    )


def plan_guides(directory: Path = GUIDES_DIR) -> list[GuidePlan]:
    return [parse_guide(path) for path in sorted(directory.glob("*.md"))]


def load_guides(
    *, actor, progress: Progress = _no_progress, summary: DemoSummary | None = None
) -> list[Guide]:
    """Create or update the demo guides (inside the demo's transaction); unchanged guides write nothing."""
    plans = plan_guides()
    systems = {s.slug: s for s in System.objects.filter(slug__in={s for p in plans for s in p.systems})}
    types = {
        t.slug: t for t in RequestType.objects.filter(slug__in={t for p in plans for t in p.request_types})
    }
    existing = {g.slug: g for g in Guide.objects.filter(slug__in=[p.slug for p in plans])}
    loaded, created = [], 0
    for plan in progress(plans, total=len(plans), desc="Guides"):
        where = f"guides/{plan.slug}.md"
        missing = [s for s in plan.systems if s not in systems] + [
            t for t in plan.request_types if t not in types
        ]
        if missing:
            raise DemoError(f"{where}: unknown systems or request types {missing}")
        fields = {
            "title": plan.title,
            "summary": plan.summary,
            "body": plan.body,
            "is_published": plan.is_published,
            "systems": [systems[s] for s in plan.systems],
            "request_types": [types[t] for t in plan.request_types],
        }
        try:
            if plan.slug in existing:
                guide = update_guide(existing[plan.slug], actor=actor, **fields)
            else:
                guide = create_guide(actor=actor, slug=plan.slug, **fields)
                created += 1
        except ValidationError as exc:
            raise _service_error(where, exc) from exc
        loaded.append(guide)
    if summary is not None:
        summary.totals["guides"], summary.created["guides"] = len(loaded), created
    return loaded
