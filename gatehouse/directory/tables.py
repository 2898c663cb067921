"""Columns of the people and team lists."""

from gatehouse.core.tables import Column, Table
from gatehouse.core.templatetags.gatehouse import object_link, status_badge


class PersonTable(Table):
    columns = (
        Column("name", "Name", order_by="name", link=True),
        Column("email", "Email", order_by="email"),
        Column("title", "Title", order_by="title"),
        Column("department", "Department", order_by="department,name"),
        Column("manager", "Manager", accessor=lambda p: object_link(p.manager), order_by="manager__name"),
        Column("employment_type", "Type", accessor="get_employment_type_display", order_by="employment_type"),
        Column(
            "status",
            "Status",
            accessor=lambda p: status_badge(p.status, p.get_status_display()),
            order_by="status",
        ),
        Column("report_count", "Reports", order_by="report_count"),
    )
    default_order = "name"


class TeamTable(Table):
    columns = (
        Column("name", "Team", order_by="name", link=True),
        Column("chat_handle", "Chat team", order_by="chat_handle"),
        Column("mention_handle", "Mention handle", order_by="mention_handle"),
        Column("chat_channel", "Channel", order_by="chat_channel"),
        Column("member_count", "Members", order_by="member_count"),
        Column("system_count", "Systems owned", order_by="system_count"),
    )
    default_order = "name"
