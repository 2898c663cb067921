"""Columns of the entitlement, bundle and lifecycle event lists."""

from django.utils.html import format_html

from gatehouse.core.tables import Column, Table
from gatehouse.core.templatetags.gatehouse import EMPTY, object_link, tier_badge, yes_no


def _privilege(entitlement):
    if entitlement.is_admin:
        return format_html('<span class="badge problem">{}</span>', "admin")
    return entitlement.get_privilege_display()


class EntitlementTable(Table):
    columns = (
        Column("name", "Entitlement", order_by="name", link=True),
        Column("system", "System", accessor=lambda e: object_link(e.system), order_by="system__name,name"),
        Column(
            "tier",
            "Tier",
            accessor=lambda e: tier_badge(e.system.effective_tier),
            order_by="system__effective_tier",
        ),
        Column("privilege", "Privilege", accessor=_privilege, order_by="privilege"),
        Column("baseline", "Baseline", accessor=lambda e: yes_no(e.is_baseline)),
        Column("requestable", "Requestable", accessor=lambda e: yes_no(e.is_requestable)),
        Column("policy", "Approval", accessor="get_approval_policy_display"),
        Column(
            "connector", "Connector", accessor=lambda e: e.get_connector_display() if e.connector else EMPTY
        ),
        Column("holders", "Holders", accessor="holder_count", order_by="holder_count"),
    )
    default_order = "system"


class BundleTable(Table):
    columns = (
        Column("name", "Bundle", order_by="name", link=True),
        Column("department", "Department", order_by="department"),
        Column("title", "Title", order_by="title"),
        Column(
            "entitlements", "Entitlements", accessor=lambda b: ", ".join(str(e) for e in b.entitlements.all())
        ),
    )
    default_order = "name"


class LifecycleEventTable(Table):
    columns = (
        Column("person", "Person", accessor=lambda e: object_link(e.person), order_by="person__name"),
        Column("kind", "Kind", accessor="get_kind_display", order_by="kind"),
        Column(
            "effective_at",
            "Detected (UTC)",
            accessor=lambda e: e.effective_at.strftime("%Y-%m-%d %H:%M"),
            order_by="effective_at",
        ),
        Column("tasks", "Tasks", accessor="task_count"),
        Column("open", "Open", accessor="open_count", order_by="open_count"),
        Column("overdue", "Overdue", accessor="overdue_count", order_by="overdue_count"),
        Column(
            "completed",
            "Completed",
            accessor=lambda e: e.completed_at.strftime("%Y-%m-%d") if e.completed_at else EMPTY,
        ),
    )
    default_order = "-effective_at"
