from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from gatehouse.catalog.selectors import visible_systems
from gatehouse.directory.selectors import visible_people, visible_teams


@login_required
def home(request):
    user = request.user
    owned = []
    if user.person_id:
        from gatehouse.catalog.selectors import systems_owned_by

        owned = list(systems_owned_by(user.person_id).order_by("name")[:20])
    context = {
        "people_count": visible_people(user).count(),
        "team_count": visible_teams(user).count(),
        "system_count": visible_systems(user).count(),
        "owned_systems": owned,
    }
    return render(request, "core/home.html", context)


def healthz(request):
    """For load balancers: answers 200 when the database answers."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})
