"""Navigation for the base layout: the modules that exist, and the ones to come (shown, not linked)."""

from django.utils.module_loading import import_string

NAVIGATION = [
    {"label": "Getting Help", "url_name": "catalog:getting_help", "permission": "catalog.view_system"},
    {"label": "People", "url_name": "directory:person_list", "permission": "directory.view_person"},
    {"label": "Teams", "url_name": "directory:team_list", "permission": "directory.view_team"},
    {"label": "Systems", "url_name": "catalog:system_list", "permission": "catalog.view_system"},
    {"label": "Audit trail", "url_name": "audit:event_list", "permission": "audit.view_auditevent"},
    # desk (part E): everyone files and follows requests; agents work queues and read the dashboard.
    {"label": "My requests", "url_name": "desk:my_requests", "permission": None},
    {"label": "Queues", "url_name": "desk:queues", "when": "gatehouse.desk.views.shows_agent_pages"},
    {"label": "Dashboard", "url_name": "desk:dashboard", "when": "gatehouse.desk.views.shows_agent_pages"},
    # desk settings: request types, queues, routing rules, calendars, SLA policies (admins only).
    {"label": "Desk settings", "url_name": "desk:settings", "permission": "desk.change_requesttype"},
]
# Modules planned in DESIGN.md; listed so the layout has their place, not linked until they exist.
UPCOMING = ["Access", "Endpoints", "Findings", "GRC"]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "nav_upcoming": []}
    items = [item for item in NAVIGATION if _shown(item, user)]
    return {"nav_items": items, "nav_upcoming": UPCOMING}


def _shown(item, user) -> bool:
    """An item shows for a permission, for a test of the user (a dotted path), or for everyone signed in."""
    if item.get("when"):
        return import_string(item["when"])(user)
    return item.get("permission") is None or user.has_perm(item["permission"])
