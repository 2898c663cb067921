import django_filters

from gatehouse.audit.models import AuditEvent
from gatehouse.core.context import Source


class AuditEventFilterSet(django_filters.FilterSet):
    object_type = django_filters.CharFilter(label="Object type (e.g. catalog.system)")
    object_id = django_filters.CharFilter(label="Object id")
    actor = django_filters.CharFilter(
        field_name="actor_label", lookup_expr="iexact", label="Actor (username)"
    )
    action = django_filters.MultipleChoiceFilter(choices=AuditEvent.Action.choices)
    source = django_filters.MultipleChoiceFilter(choices=Source.CHOICES)
    request_id = django_filters.CharFilter()
    since = django_filters.IsoDateTimeFilter(
        field_name="timestamp", lookup_expr="gte", label="From (ISO time)"
    )
    until = django_filters.IsoDateTimeFilter(
        field_name="timestamp", lookup_expr="lt", label="Until (ISO time)"
    )

    class Meta:
        model = AuditEvent
        fields = ["object_type", "object_id", "actor", "action", "source", "request_id", "since", "until"]
