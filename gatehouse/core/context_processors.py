"""Navigation for the base layout: the modules that exist, in menus, and the ones to come (shown, not linked).

Whether an item shows is decided by a permission or by a role test (a dotted path to a function of the user);
neither costs a query per page. The pages themselves check what the user may see.
"""

from django.utils.module_loading import import_string

NAVIGATION = [
    {
        "label": "Help",
        "items": [
            {
                "label": "Getting Help",
                "url_name": "catalog:getting_help",
                "permission": "catalog.view_system",
            },
            {"label": "Guides", "url_name": "desk:guide_list", "permission": "desk.view_guide"},
            {"label": "My requests", "url_name": "desk:my_requests", "permission": None},
            {"label": "New request", "url_name": "desk:new_request", "permission": "desk.add_request"},
        ],
    },
    {
        "label": "Desk",
        "items": [
            {"label": "Queues", "url_name": "desk:queues", "when": "gatehouse.desk.views.shows_agent_pages"},
            {
                "label": "Dashboard",
                "url_name": "desk:dashboard",
                "when": "gatehouse.desk.views.shows_agent_pages",
            },
            {"label": "Desk settings", "url_name": "desk:settings", "permission": "desk.change_requesttype"},
        ],
    },
    {
        "label": "Access",
        "items": [
            {"label": "My access", "url_name": "access:requests", "permission": None},
            {
                "label": "Approvals",
                "url_name": "access:approvals",
                "when": "gatehouse.access.request_views.shows_approvals",
            },
            {"label": "Reviews", "url_name": "access:review_list", "permission": None},
            {
                "label": "Fulfilment",
                "url_name": "access:tasks",
                "when": "gatehouse.access.task_views.shows_tasks",
            },
            {
                "label": "Entitlements",
                "url_name": "access:entitlement_list",
                "permission": "access.view_entitlement",
            },
            {"label": "Leavers", "url_name": "access:leavers", "permission": "access.view_lifecycleevent"},
        ],
    },
    {
        "label": "Endpoints",
        "items": [
            {
                "label": "Devices",
                "url_name": "endpoints:device_list",
                "when": "gatehouse.endpoints.views.shows_device_list",
            },
            {"label": "My devices", "url_name": "endpoints:my_devices", "permission": None},
            {
                "label": "Mismatches",
                "url_name": "endpoints:mismatches",
                "permission": "endpoints.view_device",
            },
            {"label": "KPIs", "url_name": "endpoints:kpis", "permission": "endpoints.view_kpisnapshot"},
            {"label": "Feeds", "url_name": "endpoints:feeds", "permission": "endpoints.view_feedimport"},
        ],
    },
    {
        "label": "Directory",
        "items": [
            {"label": "People", "url_name": "directory:person_list", "permission": "directory.view_person"},
            {"label": "Teams", "url_name": "directory:team_list", "permission": "directory.view_team"},
            {"label": "Systems", "url_name": "catalog:system_list", "permission": "catalog.view_system"},
        ],
    },
    {
        "label": "Audit",
        "items": [
            {"label": "Audit trail", "url_name": "audit:event_list", "permission": "audit.view_auditevent"},
        ],
    },
]
# Modules planned in DESIGN.md; listed so the layout has their place, not linked until they exist.
UPCOMING = ["Findings", "GRC"]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_groups": [], "nav_items": [], "nav_upcoming": []}
    groups = []
    for group in NAVIGATION:
        items = [item for item in group["items"] if _shown(item, user)]
        if items:
            groups.append({"label": group["label"], "items": items})
    return {
        "nav_groups": groups,
        "nav_items": [item for group in groups for item in group["items"]],
        "nav_upcoming": UPCOMING,
    }


def _shown(item, user) -> bool:
    """An item shows for a permission, for a test of the user (a dotted path), or for everyone signed in."""
    if item.get("when"):
        return import_string(item["when"])(user)
    return item.get("permission") is None or user.has_perm(item["permission"])
