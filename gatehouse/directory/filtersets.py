import django_filters

from gatehouse.core.filtersets import SearchFilterSet
from gatehouse.directory.models import EmploymentType, Person, PersonStatus, Team


class PersonFilterSet(SearchFilterSet):
    search_fields = ("name", "email", "handle", "title", "department")

    status = django_filters.MultipleChoiceFilter(choices=PersonStatus.choices)
    employment_type = django_filters.MultipleChoiceFilter(choices=EmploymentType.choices)
    department = django_filters.CharFilter(lookup_expr="iexact")
    division = django_filters.CharFilter(lookup_expr="iexact")
    manager = django_filters.ModelChoiceFilter(queryset=Person.objects.all(), label="Manager (id)")
    team = django_filters.CharFilter(field_name="teams__slug", label="Team (slug)")
    start_date_after = django_filters.DateFilter(field_name="start_date", lookup_expr="gte")
    start_date_before = django_filters.DateFilter(field_name="start_date", lookup_expr="lte")

    class Meta:
        model = Person
        fields = ["q", "status", "employment_type", "department", "division", "manager", "team"]


class TeamFilterSet(SearchFilterSet):
    search_fields = ("name", "slug", "chat_handle", "mention_handle", "description")

    member = django_filters.ModelChoiceFilter(
        field_name="members", queryset=Person.objects.all(), label="Member (person id)"
    )

    class Meta:
        model = Team
        fields = ["q", "member"]
