"""Template helpers: table cells and sort links, badges, safe links from Markdown-style text, audit changes.

Everything that turns data into HTML escapes it here (format_html), so templates never need |safe.
"""

from __future__ import annotations

import json
import re
from typing import Any

from django import template
from django.template.loader import get_template
from django.utils.html import conditional_escape, format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

register = template.Library()

EMPTY = mark_safe('<span class="muted">—</span>')


# Badges ---------------------------------------------------------------------------------------------------------


@register.filter
def tier_badge(tier: int | None, label: str = "") -> SafeString:
    """Tier 1 to 4 as a coloured badge; the full name ("Tier 1 Mission Critical") as its title."""
    if not tier:
        return EMPTY
    from gatehouse.catalog.models import Tier

    return format_html(
        '<span class="badge tier-{}" title="{}">Tier {}</span>', tier, label or Tier(tier).label, tier
    )


@register.filter
def classification_badge(value: str) -> SafeString:
    if not value:
        return EMPTY
    from gatehouse.catalog.models import DataClassification

    return format_html('<span class="badge class-{}">{}</span>', value, DataClassification(value).label)


@register.filter
def status_badge(value: str, label: str = "") -> SafeString:
    """A person's status (active, leaving, terminated) or a token's state (active, expired, revoked)."""
    if not value:
        return EMPTY
    return format_html('<span class="badge status-{}">{}</span>', value, label or value.capitalize())


@register.filter
def yes_no(value: bool | None) -> SafeString:
    if value is None:
        return EMPTY
    return format_html('<span class="badge {}">{}</span>', "yes" if value else "no", "Yes" if value else "No")


# Links ----------------------------------------------------------------------------------------------------------

_SAFE_URL = re.compile(r"^(https?://[^\s<>\"']+|/(?!/)[^\s<>\"']*)$", re.IGNORECASE)
_MD_LINK = re.compile(r"\[([^\]\n]{1,300})\]\(\s*([^)\s]{1,1000})\s*\)")
_BARE_URL = re.compile(r"https?://[^\s<>\"'()\[\]]+[^\s<>\"'()\[\].,;:!?]", re.IGNORECASE)


def safe_href(url: str | None) -> str:
    """The URL when it is http(s) or a path inside Gatehouse; '' for anything else (javascript:, data:, ...)."""
    url = (url or "").strip()
    return url if _SAFE_URL.match(url) else ""


@register.filter(name="safe_href")
def safe_href_filter(url: str | None) -> str:
    return safe_href(url)


def _external_link(href: str, text: str) -> SafeString:
    return format_html('<a href="{}" rel="noopener noreferrer" target="_blank">{}</a>', href, text)


def _autolink(text: str) -> SafeString:
    out, last = [], 0
    for match in _BARE_URL.finditer(text):
        out += [
            conditional_escape(text[last : match.start()]),
            _external_link(match.group(0), match.group(0)),
        ]
        last = match.end()
    out.append(conditional_escape(text[last:]))
    return mark_safe("".join(out))


@register.filter
def md_links(text: str | None) -> SafeString:
    """Text with Markdown-style [text](url) links and bare http(s) URLs made into links; everything else escaped.

    Only absolute http(s) URLs become links. Relative paths (handbook pages of another site, e.g.
    /handbook/security/) cannot be resolved here, so they stay text: "Guide (/handbook/security/)".
    """
    if not text:
        return EMPTY
    out, last = [], 0
    for match in _MD_LINK.finditer(text):
        out.append(_autolink(text[last : match.start()]))
        label, url = match.group(1).strip(), match.group(2)
        if re.match(r"^https?://", url, re.IGNORECASE) and safe_href(url):
            out.append(_external_link(url, label))
        else:
            out.append(format_html('{} <span class="muted">(<code>{}</code>)</span>', label, url))
        last = match.end()
    out.append(_autolink(text[last:]))
    return mark_safe("".join(out))


@register.filter
def link_or_text(url: str | None, text: str = "") -> SafeString:
    """An http(s) URL or Gatehouse path as a link (text defaults to the URL); anything else as escaped text."""
    if not url:
        return EMPTY
    href = safe_href(url)
    if not href:
        return format_html("{}", url)
    if href.startswith("/"):
        return format_html('<a href="{}">{}</a>', href, text or url)
    return _external_link(href, text or url)


@register.filter
def object_link(obj: Any) -> SafeString:
    """A person, team or system as a link to its page."""
    if obj is None:
        return EMPTY
    return format_html('<a href="{}">{}</a>', obj.get_absolute_url(), obj)


@register.filter
def contact_links(contacts) -> SafeString:
    """System contacts (people or teams) as links, comma-separated."""
    contacts = list(contacts or [])
    if not contacts:
        return EMPTY
    return format_html_join(", ", "{}", ((object_link(c.party),) for c in contacts))


# Tables ---------------------------------------------------------------------------------------------------------


@register.simple_tag
def cell(column, row) -> SafeString:
    """One table cell: the column's template, a link to the row, or the value (escaped; empty as a dash)."""
    value = column.value(row)
    if column.template:
        return mark_safe(get_template(column.template).render({"row": row, "value": value, "column": column}))
    if value is None or value == "":
        return EMPTY
    if column.link:
        return format_html('<a href="{}">{}</a>', row.get_absolute_url(), value)
    return conditional_escape(value)


@register.simple_tag
def sort_link(column, table, sort_query: str) -> SafeString:
    """A header that sorts by the column (again to reverse it) and keeps the other query parameters."""
    if not column.order_by:
        return format_html("{}", column.header)
    current = table.order
    ascending = current == column.name
    descending = current == f"-{column.name}"
    target = f"-{column.name}" if ascending else column.name
    query = f"{sort_query}&sort={target}" if sort_query else f"sort={target}"
    arrow = " ▲" if ascending else " ▼" if descending else ""
    return format_html('<a href="?{}" class="sort">{}{}</a>', query, column.header, arrow)


@register.filter
def aria_sort(column, table) -> str:
    if table.order == column.name:
        return "ascending"
    if table.order == f"-{column.name}":
        return "descending"
    return "none"


# Filter forms ---------------------------------------------------------------------------------------------------


@register.filter
def control_kind(field) -> str:
    """How the filter bar draws a field: search, multi (checkbox dropdown), select, boolean, datetime or text."""
    from django import forms

    formfield = field.field
    if field.name == "q":
        return "search"
    if isinstance(formfield, forms.MultipleChoiceField | forms.ModelMultipleChoiceField):
        return "multi"
    if isinstance(formfield, forms.ModelChoiceField):
        return "text"  # a person or team by id or slug: a select of every row would not scale
    if isinstance(formfield, forms.NullBooleanField):
        return "boolean"
    if isinstance(formfield, forms.DateTimeField):
        return "datetime"
    if isinstance(formfield, forms.DateField):
        return "date"
    if isinstance(formfield, forms.ChoiceField):
        return "select"
    return "text"


@register.filter
def choice_items(field) -> list[tuple[str, str, bool]]:
    """(value, label, checked) for each choice of a multiple-choice field."""
    raw = field.value() or []
    selected = {str(v) for v in (raw if isinstance(raw, list | tuple) else [raw])}
    items = []
    for value, label in field.field.choices:
        value = str(getattr(value, "value", value))
        if value == "":
            continue
        items.append((value, label, value in selected))
    return items


@register.filter
def selected_count(field) -> int:
    return sum(1 for _, _, checked in choice_items(field) if checked)


@register.filter
def field_values(field) -> list[str]:
    """A field's submitted values, for hidden inputs that keep a filter not shown in the bar."""
    raw = field.value()
    if raw in (None, ""):
        return []
    return [str(v) for v in raw] if isinstance(raw, list | tuple) else [str(raw)]


@register.filter
def shown(field, names) -> bool:
    return not names or field.name in names


@register.filter
def get_item(mapping, key):
    return (mapping or {}).get(key)


# Audit ----------------------------------------------------------------------------------------------------------


def audit_value(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


@register.filter
def change_rows(changes: dict | None) -> list[tuple[str, str, str]]:
    """An event's changes as (field, before, after) text, fields in the order recorded."""
    rows = []
    for name, pair in (changes or {}).items():
        before, after = [*pair, None, None][:2] if isinstance(pair, list) else (None, pair)
        rows.append((name, audit_value(before), audit_value(after)))
    return rows


@register.filter
def as_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True)
