"""Reads for the people directory, with permissions applied in the query."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from gatehouse.core.permissions import require
from gatehouse.directory.models import Person, Team


def visible_people(user) -> QuerySet[Person]:
    """Every team member may read the directory; anonymous callers see nothing."""
    if user is None or not user.has_perm("directory.view_person"):
        return Person.objects.none()
    return Person.objects.select_related("manager")


def person_list(user) -> QuerySet[Person]:
    return visible_people(user).annotate(report_count=Count("reports"))


def get_person(user, pk: int) -> Person:
    require(user, "directory.view_person")
    return Person.objects.select_related("manager", "user").get(pk=pk)


def manager_chain(person: Person, limit: int = 50) -> list[Person]:
    """The person's manager, their manager, and so on up to the top (cycles are cut, never followed)."""
    chain: list[Person] = []
    seen = {person.pk}
    current = person.manager
    while current is not None and current.pk not in seen and len(chain) < limit:
        chain.append(current)
        seen.add(current.pk)
        current = Person.objects.select_related("manager").get(pk=current.pk).manager
    return chain


def direct_reports(person: Person) -> QuerySet[Person]:
    return person.reports.order_by("name")


def search_people(user, text: str) -> QuerySet[Person]:
    text = text.strip()
    qs = visible_people(user)
    if not text:
        return qs
    return qs.filter(
        Q(name__icontains=text)
        | Q(email__icontains=text)
        | Q(handle__icontains=text)
        | Q(title__icontains=text)
    )


def visible_teams(user) -> QuerySet[Team]:
    if user is None or not user.has_perm("directory.view_team"):
        return Team.objects.none()
    return Team.objects.annotate(member_count=Count("members", distinct=True))


def get_team(user, slug: str) -> Team:
    require(user, "directory.view_team")
    return Team.objects.get(slug=slug)


def departments() -> list[str]:
    return list(
        Person.objects.exclude(department="")
        .order_by("department")
        .values_list("department", flat=True)
        .distinct()
    )
