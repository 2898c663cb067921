"""Navigation for the base layout: the modules that exist, and the ones to come (shown, not linked)."""

NAVIGATION = [
    {"label": "Getting Help", "url_name": "catalog:getting_help", "permission": "catalog.view_system"},
    {"label": "People", "url_name": "directory:person_list", "permission": "directory.view_person"},
    {"label": "Teams", "url_name": "directory:team_list", "permission": "directory.view_team"},
    {"label": "Systems", "url_name": "catalog:system_list", "permission": "catalog.view_system"},
    {"label": "Audit trail", "url_name": "audit:event_list", "permission": "audit.view_auditevent"},
]
# Modules planned in DESIGN.md; listed so the layout has their place, not linked until they exist.
UPCOMING = ["Desk", "Access", "Endpoints", "Findings", "GRC"]


def navigation(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"nav_items": [], "nav_upcoming": []}
    items = [item for item in NAVIGATION if user.has_perm(item["permission"])]
    return {"nav_items": items, "nav_upcoming": UPCOMING}
