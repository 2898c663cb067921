import pytest

from gatehouse.audit.models import AuditEvent
from gatehouse.audit.services import event_hash
from gatehouse.core.api.testing import ApiClient
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory.services import create_person, update_person
from gatehouse.directory.tests.factories import PersonFactory

pytestmark = pytest.mark.django_db


def test_auditor_reads_events_with_changes_and_hashes(auditor_user, token_for):
    person = create_person(actor=SYSTEM, email="a@example.com", name="A")
    update_person(person, actor=SYSTEM, title="Boss")
    api = ApiClient(token_for(auditor_user))
    response = api.get("/audit/events", object_type="directory.person")
    assert response.status_code == 200
    events = response.json()["results"]
    assert [e["action"] for e in events] == ["update", "create"]  # newest first
    update = events[0]
    assert update["changes"] == {"title": ["", "Boss"]}
    assert update["action_label"] == "Updated" and update["object_id"] == str(person.pk)
    assert update["prev_hash"] == events[1]["hash"]
    stored = AuditEvent.objects.get(pk=update["id"])
    assert update["hash"] == stored.hash
    values = {
        f: getattr(stored, f)
        for f in (
            "timestamp",
            "actor_id",
            "actor_label",
            "source",
            "action",
            "object_type",
            "object_id",
            "object_repr",
            "changes",
            "request_id",
        )
    }
    assert event_hash(update["prev_hash"], values) == update["hash"]


def test_audit_filters(admin_user, token_for):
    api = ApiClient(token_for(admin_user), **{"X-Request-ID": "batch-7"})
    api.post("/people", {"email": "b@example.com", "name": "B"})
    events = ApiClient(token_for(admin_user)).get("/audit/events", source="api", request_id="batch-7").json()
    assert events["count"] == 1
    assert events["results"][0]["actor_label"] == admin_user.username
    bad = api.get("/audit/events", since="not-a-time")
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "since"]
    assert api.get("/audit/events", action="explode").status_code == 422


def test_members_may_not_read_the_audit_trail(member_user, token_for):
    assert ApiClient(token_for(member_user)).get("/audit/events").status_code == 403


def test_anonymous_gets_401():
    assert ApiClient().get("/audit/events").status_code == 401


@pytest.mark.parametrize("rows", [5, 30])
def test_audit_list_query_count_does_not_grow(auditor_user, token_for, django_assert_max_num_queries, rows):
    for person in PersonFactory.create_batch(rows):
        update_person(person, actor=SYSTEM, title=f"T{person.pk}")
    api = ApiClient(token_for(auditor_user))
    with django_assert_max_num_queries(5 + 2):
        response = api.get("/audit/events", action="update")
    assert response.json()["count"] == rows
