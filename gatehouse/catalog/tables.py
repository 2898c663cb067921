"""Columns of the system list and the Getting Help page."""

from urllib.parse import urlencode

from django.urls import reverse
from django.utils.html import format_html

from gatehouse.catalog.models import ContactRole
from gatehouse.catalog.selectors import DESK_ACCESS_TYPE, DESK_ISSUE_TYPE, OWNER_ROLES
from gatehouse.core.tables import Column, Table
from gatehouse.core.templatetags.gatehouse import (
    EMPTY,
    classification_badge,
    contact_links,
    link_or_text,
    object_link,
    tier_badge,
)


def contacts_in(system, roles) -> list:
    """From the prefetched contacts, so a row costs no query."""
    return [c for c in system.contacts.all() if c.role in roles]


def _owners(system):
    return contact_links(contacts_in(system, OWNER_ROLES))


def _problems(system):
    count = len(system.import_problems or [])
    if not count:
        return EMPTY
    return format_html(
        '<span class="badge problem" title="Import problems">{} problem{}</span>',
        count,
        "s" if count > 1 else "",
    )


def _team_attr(name: str):
    return lambda system: getattr(system.owner_team, name, "") if system.owner_team_id else ""


class SystemTable(Table):
    columns = (
        Column("name", "System", order_by="name", link=True),
        Column("label", "Label", order_by="label", template="catalog/_label_cell.html"),
        Column(
            "tier", "Tier", accessor=lambda s: tier_badge(s.effective_tier), order_by="effective_tier,name"
        ),
        Column("classification", "Data", accessor=lambda s: classification_badge(s.data_classification)),
        Column(
            "business_owner",
            "Business owner",
            accessor=lambda s: contact_links(contacts_in(s, (ContactRole.BUSINESS_OWNER,))),
        ),
        Column(
            "technical_owner",
            "Technical owner",
            accessor=lambda s: contact_links(contacts_in(s, (ContactRole.TECHNICAL_OWNER,))),
        ),
        Column(
            "owner_team",
            "Owner team",
            accessor=lambda s: object_link(s.owner_team),
            order_by="owner_team__name",
        ),
        Column(
            "scopes",
            "Scopes",
            accessor=lambda s: ", ".join(c.code.upper() for c in s.compliance_scopes.all()),
        ),
        Column("auth_method", "Auth", accessor="get_auth_method_display", order_by="auth_method"),
        Column("problems", "Import", accessor=_problems),
    )
    default_order = "name"


def desk_link(system, request_type: str, available: bool, stored_url: str, text: str):
    """Getting Help's links open the desk's form for the system, prefilled, while the desk offers that request
    type; when an admin has switched the type off, the link the catalog stores for the system is shown."""
    if available:
        url = reverse("desk:new_request_form", args=[request_type])
        return format_html('<a href="{}?{}">{}</a>', url, urlencode({"system": system.slug}), text)
    return link_or_text(stored_url, text)


def _access_link(system):
    return desk_link(
        system,
        DESK_ACCESS_TYPE,
        getattr(system, "desk_access", False),
        system.access_request_url,
        "Request access",
    )


def _issue_link(system):
    return desk_link(
        system,
        DESK_ISSUE_TYPE,
        getattr(system, "desk_issue", False),
        system.issue_template_url,
        "Report an issue",
    )


class GettingHelpTable(Table):
    columns = (
        Column("name", "System", order_by="name", template="catalog/_help_system_cell.html"),
        Column("label", "Label", order_by="label", template="catalog/_label_cell.html"),
        Column("access_request", "Access", accessor=_access_link),
        Column("issue", "Issues", accessor=_issue_link),
        Column(
            "mention_handle",
            "Mention handle",
            accessor=_team_attr("mention_handle"),
            order_by="owner_team__mention_handle",
        ),
        Column(
            "chat_team", "Chat team", accessor=_team_attr("chat_handle"), order_by="owner_team__chat_handle"
        ),
        Column("chat_channel", "Channel", order_by="chat_channel"),
        Column("owners", "Owners", accessor=_owners),
    )
    default_order = "name"
