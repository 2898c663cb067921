"""Tier 1: guides. Safe Markdown, full-text search on SQLite (FTS5) and PostgreSQL, and deflections.

Rendering: CommonMark (plus tables and strikethrough) with raw HTML off, so whatever HTML a writer types is
shown as text; links and images are kept only for http(s), mailto and relative addresses (javascript:, data:,
vbscript: and every other scheme are refused). The output is escaped by markdown-it and safe to mark_safe.

Search: SQLite keeps an FTS5 index (`desk_guide_fts`, external content over `desk_guide`, kept in sync by
triggers); PostgreSQL uses a GIN index over the weighted tsvector expression `GUIDE_VECTOR_SQL`, which the
database keeps current on every write. Both live in migration 0002_guide_search. User text never reaches either
query language as syntax: it is cut into word tokens, each passed as a quoted term (FTS5) or through
plainto_tsquery (PostgreSQL). See docs/decisions/0004-guide-search.md.

Services (writes) take `actor=` and go through gatehouse.core.services, so every change is audited.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import BooleanField, Exists, FloatField, OuterRef, QuerySet, Value
from django.db.models.expressions import RawSQL
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from gatehouse.catalog.models import System
from gatehouse.core.permissions import require
from gatehouse.core.services import create_object, delete_object, update_object
from gatehouse.desk.models import Deflection, Guide, RequestType

# --- Rendering ----------------------------------------------------------------------------------------------

SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_SCHEME = re.compile(r"^([a-z][a-z0-9+.\-]*):")
_INVISIBLE = re.compile(r"[\x00-\x20\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2064\ufeff]")


def is_safe_url(url: str) -> bool:
    """True for http(s), mailto and relative addresses; False for any other scheme.

    Browsers ignore tabs, newlines and control characters inside a scheme ("java\\tscript:") and markdown-it
    percent-encodes them, so the check looks at the decoded address with those removed.
    """
    probe = _INVISIBLE.sub("", unquote(url or "")).lower()
    if probe.startswith("\\\\"):
        return False  # a Windows share path
    match = _SCHEME.match(probe)
    return match is None or match.group(1) in SAFE_SCHEMES


def _make_renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    md.validateLink = is_safe_url

    def link_open(renderer, tokens, idx, options, env):
        token = tokens[idx]
        if _SCHEME.match(str(token.attrGet("href") or "").lower()):  # an absolute address leaves Gatehouse
            token.attrSet("rel", "noopener noreferrer nofollow")
        return renderer.renderToken(tokens, idx, options, env)

    md.add_render_rule("link_open", link_open)
    return md


_MARKDOWN = _make_renderer()


def render_markdown(text: str | None) -> SafeString:
    """Markdown as HTML that is safe to put on a page: no raw HTML, no script, no unsafe link."""
    return mark_safe(_MARKDOWN.render(text or ""))


# --- Search -------------------------------------------------------------------------------------------------

MAX_QUERY_CHARS = 500
MAX_TERMS = 12
MAX_TERM_CHARS = 40
# Words too common to say what a guide is about (PostgreSQL's english configuration drops them too).
STOP_WORDS = frozenset(
    [
        "a",
        "about",
        "an",
        "and",
        "any",
        "are",
        "as",
        "at",
        "be",
        "been",
        "but",
        "by",
        "can",
        "cannot",
        "could",
        "did",
        "do",
        "does",
        "doing",
        "for",
        "from",
        "get",
        "got",
        "had",
        "has",
        "have",
        "having",
        "how",
        "i",
        "i'm",
        "if",
        "in",
        "into",
        "is",
        "it",
        "its",
        "just",
        "me",
        "my",
        "no",
        "nor",
        "not",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "our",
        "out",
        "over",
        "please",
        "so",
        "some",
        "such",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "these",
        "they",
        "this",
        "those",
        "to",
        "too",
        "up",
        "us",
        "very",
        "was",
        "we",
        "were",
        "what",
        "when",
        "where",
        "which",
        "while",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
    ]
)
_TOKEN = re.compile(r"[^\W_]+")
# FTS5 column weights for bm25 (title, summary, body); PostgreSQL uses the setweight letters A, B, C.
FTS5_WEIGHTS = (10.0, 4.0, 1.0)
GUIDE_VECTOR_SQL = (
    "(setweight(to_tsvector('english'::regconfig, coalesce({t}title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce({t}summary, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce({t}body, '')), 'C'))"
)


def search_terms(text: str | None) -> list[str]:
    """The words of a query, lower case, without stop words or repeats, bounded in number and length."""
    terms: list[str] = []
    for token in _TOKEN.findall((text or "")[:MAX_QUERY_CHARS].lower()):
        token = token[:MAX_TERM_CHARS]
        if token in STOP_WORDS or token in terms:
            continue
        terms.append(token)
        if len(terms) == MAX_TERMS:
            break
    return terms


def _prefix_ok(term: str) -> bool:
    # The last word may still be being typed; only plain ASCII words become prefix queries, so the text given
    # to PostgreSQL's to_tsquery is always [a-z0-9]+:* and can never be a syntax error.
    return len(term) >= 3 and term.isascii() and term.isalnum()


def fts5_query(terms: list[str]) -> str:
    """An FTS5 MATCH expression: each word a quoted string (never an operator), any of them matching."""
    parts = []
    for index, term in enumerate(terms):
        quoted = '"' + term.replace('"', '""') + '"'
        if index == len(terms) - 1 and _prefix_ok(term):
            quoted += "*"
        parts.append(quoted)
    return " OR ".join(parts)


def postgres_query(terms: list[str]) -> tuple[str, list[str]]:
    """A tsquery expression (SQL and parameters): any of the words, the last one also as a prefix."""
    sql, params = [], []
    for index, term in enumerate(terms):
        if index == len(terms) - 1 and _prefix_ok(term):
            sql.append("to_tsquery('english'::regconfig, %s)")
            params.append(f"{term}:*")
        else:
            sql.append("plainto_tsquery('english'::regconfig, %s)")
            params.append(term)
    return "(" + " || ".join(sql) + ")", params


def apply_search(queryset: QuerySet[Guide], text: str | None) -> QuerySet[Guide]:
    """Guides matching the text, annotated with `rank` (higher is better) and ordered by it.

    Text without a searchable word (empty, only punctuation or stop words) matches nothing.
    """
    terms = search_terms(text)
    if not terms:
        return queryset.none()
    table = Guide._meta.db_table
    vendor = connections[queryset.db].vendor
    if vendor == "sqlite":
        match = fts5_query(terms)
        weights = ", ".join(str(w) for w in FTS5_WEIGHTS)
        matches = RawSQL(
            f'"{table}"."id" IN (SELECT rowid FROM desk_guide_fts WHERE desk_guide_fts MATCH %s)',
            [match],
            output_field=BooleanField(),
        )
        rank = RawSQL(
            f"(SELECT -bm25(desk_guide_fts, {weights}) FROM desk_guide_fts "
            f'WHERE desk_guide_fts MATCH %s AND desk_guide_fts.rowid = "{table}"."id")',
            [match],
            output_field=FloatField(),
        )
    elif vendor == "postgresql":
        tsquery, params = postgres_query(terms)
        vector = GUIDE_VECTOR_SQL.format(t=f'"{table}".')
        matches = RawSQL(f"{vector} @@ {tsquery}", params, output_field=BooleanField())
        rank = RawSQL(f"ts_rank({vector}, {tsquery})", params, output_field=FloatField())
    else:  # pragma: no cover - settings allow only these two
        raise RuntimeError(f"Guide search supports SQLite and PostgreSQL, not {vendor}.")
    return queryset.filter(matches).annotate(rank=rank).order_by("-rank", "title", "pk")


# --- Selectors ----------------------------------------------------------------------------------------------


def can_edit_guides(user) -> bool:
    return bool(user is not None and user.has_perm("desk.change_guide"))


def visible_guides(user) -> QuerySet[Guide]:
    """Published guides for every reader; drafts too for those who edit guides."""
    if user is None or not user.has_perm("desk.view_guide"):
        return Guide.objects.none()
    guides = Guide.objects.all()
    return guides if can_edit_guides(user) else guides.filter(is_published=True)


def guide_list(user) -> QuerySet[Guide]:
    """The list page and API list: each row's systems and request types fetched up front."""
    return visible_guides(user).prefetch_related("systems", "request_types")


def get_guide(user, slug: str) -> Guide:
    """A guide the user may read; Guide.DoesNotExist otherwise (a draft is not found by readers)."""
    require(user, "desk.view_guide")
    return guide_list(user).get(slug=slug)


def resolve_system(value: System | str | int | None, field: str = "system") -> System | None:
    """A system from itself, its slug or its id; a ValidationError naming `field` when there is none."""
    if value is None or value == "" or isinstance(value, System):
        return value or None
    text = str(value).strip()
    system = System.objects.filter(slug=text).first()
    if system is None and text.isdigit() and len(text) < 19:
        system = System.objects.filter(pk=int(text)).first()
    if system is None:
        raise ValidationError({field: f"No system {text[:100]!r}."})
    return system


def resolve_request_type(
    value: RequestType | str | int | None, field: str = "request_type"
) -> RequestType | None:
    if value is None or value == "" or isinstance(value, RequestType):
        return value or None
    text = str(value).strip()
    request_type = RequestType.objects.filter(slug=text).first()
    if request_type is None and text.isdigit() and len(text) < 19:
        request_type = RequestType.objects.filter(pk=int(text)).first()
    if request_type is None:
        raise ValidationError({field: f"No request type {text[:100]!r}."})
    return request_type


def matching_guides(
    user,
    text: str | None,
    system: System | str | None = None,
    request_type: RequestType | str | None = None,
) -> QuerySet[Guide]:
    """Guides for a request being written: those linked to its system first, then to its type, then by rank.

    Without a searchable word, the guides linked to the system (or, failing that, the type) are offered.
    """
    system = resolve_system(system)
    request_type = resolve_request_type(request_type)
    guides = guide_list(user)
    links = Guide.systems.through.objects.filter(guide_id=OuterRef("pk"))
    type_links = Guide.request_types.through.objects.filter(guide_id=OuterRef("pk"))
    on_system = Exists(links.filter(system_id=system.pk)) if system else Value(False)
    on_type = Exists(type_links.filter(requesttype_id=request_type.pk)) if request_type else Value(False)
    if search_terms(text):
        guides = apply_search(guides, text)
    elif system is not None:
        guides = guides.filter(Exists(links.filter(system_id=system.pk))).annotate(rank=Value(0.0))
    elif request_type is not None:
        guides = guides.filter(Exists(type_links.filter(requesttype_id=request_type.pk))).annotate(
            rank=Value(0.0)
        )
    else:
        return guides.none()
    return guides.annotate(on_system=on_system, on_type=on_type).order_by(
        "-on_system", "-on_type", "-rank", "title", "pk"
    )


def search_guides(
    user,
    text: str | None,
    system: System | str | None = None,
    request_type: RequestType | str | None = None,
    limit: int = 5,
) -> list[Guide]:
    """The best `limit` guides for the text, preferring those linked to the system (see matching_guides)."""
    return list(matching_guides(user, text, system=system, request_type=request_type)[: max(limit, 0)])


# --- Services -----------------------------------------------------------------------------------------------

GUIDE_FIELDS = {"slug", "title", "summary", "body", "is_published"}
MAX_BODY_CHARS = 200_000
# Words the guide pages and endpoints use after guides/; a guide cannot take them as its slug.
RESERVED_SLUGS = frozenset({"add", "suggestions", "new"})


def _check_fields(fields: dict[str, Any]) -> None:
    errors: dict[str, str] = {name: "Unknown field." for name in sorted(set(fields) - GUIDE_FIELDS)}
    for name, value in fields.items():
        if isinstance(value, str) and "\x00" in value:
            errors[name] = "Must not contain NUL characters."
    if isinstance(fields.get("body"), str) and len(fields["body"]) > MAX_BODY_CHARS:
        errors["body"] = f"At most {MAX_BODY_CHARS} characters."
    if fields.get("slug") in RESERVED_SLUGS:
        errors["slug"] = f"{fields['slug']!r} is reserved; choose another slug."
    if errors:
        raise ValidationError(errors)


def _links(systems: Iterable[System] | None, request_types: Iterable[RequestType] | None) -> dict[str, list]:
    m2m: dict[str, list] = {}
    if systems is not None:
        m2m["systems"] = list(dict.fromkeys(systems))
    if request_types is not None:
        m2m["request_types"] = list(dict.fromkeys(request_types))
    return m2m


def create_guide(
    *,
    actor,
    slug: str,
    title: str,
    body: str,
    summary: str = "",
    is_published: bool = True,
    systems: Iterable[System] = (),
    request_types: Iterable[RequestType] = (),
) -> Guide:
    require(actor, "desk.add_guide")
    fields = {"slug": slug, "title": title, "body": body, "summary": summary, "is_published": is_published}
    _check_fields(fields)
    return create_object(Guide, fields=fields, m2m=_links(systems, request_types))


def update_guide(
    guide: Guide,
    *,
    actor,
    systems: Iterable[System] | None = None,
    request_types: Iterable[RequestType] | None = None,
    **fields: Any,
) -> Guide:
    """Change the given fields; `systems` / `request_types` replace the links when given. No-ops write nothing."""
    require(actor, "desk.change_guide", guide)
    _check_fields(fields)
    guide, _ = update_object(guide, fields=fields, m2m=_links(systems, request_types))
    return guide


def delete_guide(guide: Guide, *, actor) -> None:
    """Delete a guide. One that has solved requests is kept (its deflections are the desk's metrics): unpublish
    it instead."""
    require(actor, "desk.delete_guide", guide)
    count = guide.deflections.count()
    if count:
        raise ValidationError(
            {
                "guide": f"This guide has solved {count} request(s) and is kept for the desk's metrics; unpublish it."
            }
        )
    delete_object(guide)


def record_deflection(
    *,
    actor,
    guide: Guide,
    person=None,
    request_type: RequestType | str | None = None,
    system: System | str | None = None,
    subject: str = "",
) -> Deflection:
    """ "This solved it": the guide answered what would have been a request, so none is filed.

    The person defaults to the actor's own; the actor must be able to read the guide.
    """
    require(actor, "desk.add_deflection")
    if not visible_guides(actor).filter(pk=guide.pk).exists():
        raise ValidationError({"guide": "No such guide."})
    subject = (subject or "").strip()
    if "\x00" in subject:
        raise ValidationError({"subject": "Must not contain NUL characters."})
    if len(subject) > Deflection._meta.get_field("subject").max_length:
        raise ValidationError({"subject": "At most 250 characters."})
    if person is None:
        person = getattr(actor, "person", None)
    fields = {
        "guide": guide,
        "person": person,
        "request_type": resolve_request_type(request_type),
        "system": resolve_system(system),
        "subject": subject,
    }
    return create_object(Deflection, fields=fields)
