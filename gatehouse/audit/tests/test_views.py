"""The audit trail pages: who may see them, filters, field-level changes, the event page and the CSV export."""

import csv
import io
import json

import pytest
from django.test import Client
from django.urls import reverse

from gatehouse.audit.models import AuditEvent
from gatehouse.audit.services import EventDraft, record_events
from gatehouse.core import context

EVENT_LIST_QUERIES = 7


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def add_events(count: int, *, object_type: str = "catalog.system", actor_label: str = "alice") -> None:
    with context.change_context(actor_label=actor_label, source="cli"):
        record_events(
            [
                EventDraft(
                    action="update",
                    object_type=object_type,
                    object_id=str(i),
                    object_repr=f"Object {i}",
                    changes={"name": [f"Old {i}", f"New {i}"]},
                )
                for i in range(count)
            ]
        )


@pytest.mark.django_db
class TestAccess:
    @pytest.mark.parametrize("name", ["audit:event_list", "audit:export"])
    def test_member_gets_403(self, member_user, name):
        assert signed_in(member_user).get(reverse(name)).status_code == 403

    def test_member_gets_403_on_an_event(self, member_user):
        add_events(1)
        event = AuditEvent.objects.get()
        assert signed_in(member_user).get(reverse("audit:event", args=[event.pk])).status_code == 403

    @pytest.mark.parametrize("name", ["audit:event_list", "audit:export"])
    def test_anonymous_goes_to_sign_in(self, client, name):
        response = client.get(reverse(name))
        assert response.status_code == 302 and response["Location"].startswith(reverse("users:login"))

    @pytest.mark.parametrize(
        "roles", [("auditor",), ("admin",), ("compliance_analyst",), ("security_engineer",)]
    )
    def test_readers_see_the_trail(self, make_user, roles):
        add_events(2)
        response = signed_in(make_user(*roles)).get(reverse("audit:event_list"))
        assert response.status_code == 200
        assert "Object 1" in response.content.decode()


@pytest.mark.django_db
class TestList:
    def test_shows_field_changes_and_filters(self, auditor_user):
        add_events(3, object_type="catalog.system", actor_label="alice")
        add_events(2, object_type="directory.person", actor_label="bob")
        client = signed_in(auditor_user)
        body = client.get(reverse("audit:event_list")).content.decode()
        assert "<del>Old 1</del> → <ins>New 1</ins>" in body
        response = client.get(
            reverse("audit:event_list"), {"object_type": "directory.person", "object_id": "1"}
        )
        assert list(response.context["page"].object_list.values_list("object_type", "object_id")) == [
            ("directory.person", "1")
        ]
        response = client.get(reverse("audit:event_list"), {"actor": "ALICE"})
        assert {e.actor_label for e in response.context["page"].object_list} == {"alice"}
        response = client.get(reverse("audit:event_list"), {"since": "2999-01-01T00:00"})
        assert response.context["page"].paginator.count == 0
        response = client.get(reverse("audit:event_list"), {"source": "web"})
        assert response.context["page"].paginator.count == 0

    @pytest.mark.parametrize("rows", [5, 40])
    def test_query_count_does_not_grow_with_rows(self, rows, auditor_user, django_assert_max_num_queries):
        add_events(rows)
        client = signed_in(auditor_user)
        with django_assert_max_num_queries(EVENT_LIST_QUERIES):
            assert client.get(reverse("audit:event_list")).status_code == 200


@pytest.mark.django_db
def test_event_page_shows_hashes_and_changes(auditor_user):
    add_events(2)
    first, second = AuditEvent.objects.order_by("id")
    body = signed_in(auditor_user).get(reverse("audit:event", args=[second.pk])).content.decode()
    assert second.hash in body and second.prev_hash == first.hash and first.hash in body
    assert "New 1" in body and "Old 1" in body


@pytest.mark.django_db
def test_csv_export_holds_every_matching_event(auditor_user):
    add_events(60, object_type="catalog.system")  # more than one page of the list
    add_events(3, object_type="directory.person")
    response = signed_in(auditor_user).get(reverse("audit:export"), {"object_type": "catalog.system"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-events-')
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert list(rows[0]) == [
        "id",
        "timestamp",
        "actor",
        "source",
        "action",
        "object_type",
        "object_id",
        "object_repr",
        "changes",
        "request_id",
        "prev_hash",
        "hash",
    ]
    assert len(rows) == 60
    assert {r["object_type"] for r in rows} == {"catalog.system"}
    first = AuditEvent.objects.filter(object_type="catalog.system").order_by("id").first()
    assert rows[0]["id"] == str(first.pk) and rows[0]["hash"] == first.hash and rows[0]["actor"] == "alice"
    assert json.loads(rows[0]["changes"]) == {"name": ["Old 0", "New 0"]}


@pytest.mark.django_db
def test_csv_export_rejects_bad_filters(auditor_user):
    response = signed_in(auditor_user).get(reverse("audit:export"), {"since": "not a time"})
    assert response.status_code == 400
