import io
import itertools

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone

from gatehouse.audit import services
from gatehouse.audit.models import AuditChainHead, AuditEvent
from gatehouse.audit.services import GENESIS_HASH, EventDraft, record_events, verify_chain
from gatehouse.core import context
from gatehouse.core.bulk import write_behind
from gatehouse.core.context import Source
from gatehouse.core.permissions import SYSTEM
from gatehouse.directory import services as directory
from gatehouse.directory.models import Person

pytestmark = pytest.mark.django_db


def make_people(n: int) -> list[Person]:
    return [directory.create_person(actor=SYSTEM, email=f"p{i}@example.com", name=f"P {i}") for i in range(n)]


def run_verify() -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_audit", stdout=out, stderr=err)
    except SystemExit as exc:
        return exc.code, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_create_update_delete_record_field_level_changes(admin_user):
    with context.change_context(source=Source.WEB, request_id="req-1", actor=admin_user):
        person = directory.create_person(
            actor=admin_user, email="Ada@Example.com", name="Ada", title="Engineer"
        )
        directory.update_person(person, actor=admin_user, title="Staff engineer", department="Security")
        directory.delete_person(person, actor=admin_user)
    created, updated, deleted = AuditEvent.objects.order_by("id")
    assert created.action == "create" and created.changes["email"] == [None, "ada@example.com"]
    assert updated.changes == {"title": ["Engineer", "Staff engineer"], "department": ["", "Security"]}
    assert deleted.action == "delete" and deleted.changes["name"] == ["Ada", None]
    for event in (created, updated, deleted):
        assert event.actor == admin_user
        assert event.actor_label == admin_user.username
        assert event.source == "web"
        assert event.request_id == "req-1"
        assert event.object_type == "directory.person"
        assert event.object_id == str(person.pk or created.object_id)


def test_a_no_op_update_writes_no_event():
    (person,) = make_people(1)
    before = AuditEvent.objects.count()
    directory.update_person(person, actor=SYSTEM, name=person.name, title="")
    assert AuditEvent.objects.count() == before


def test_events_form_a_chain_from_genesis():
    make_people(3)
    events = list(AuditEvent.objects.order_by("id"))
    assert events[0].prev_hash == GENESIS_HASH
    for previous, event in itertools.pairwise(events):
        assert event.prev_hash == previous.hash
    head = AuditChainHead.objects.get()
    assert head.last_event_id == events[-1].pk and head.last_hash == events[-1].hash
    assert head.event_count == 3
    assert verify_chain().ok


def test_a_batch_of_events_is_chained_in_order():
    drafts = [EventDraft("update", "directory.person", str(i), f"P{i}", {"x": [i, i + 1]}) for i in range(5)]
    record_events(drafts)
    result = verify_chain()
    assert result.ok and result.checked == 5


def test_a_batch_hashes_what_verification_reads_back():
    """A batch encodes its events' JSON in parts (shared fields once): the stored events must hash the same when
    read back, whatever their text (quotes, non-ASCII, nesting, keys in any order)."""
    drafts = [
        EventDraft(
            "create", "x.y", "1", 'Zoë "the" \\ admin', {"b": [None, {"z": 1, "a": ["ü", 2.5]}], "a": [1, 2]}
        ),
        EventDraft("update", "x.y", "2", "", {}),
        EventDraft("delete", "x.y", "3", "日本", {"k": ["\n", None]}),
    ]
    assert record_events(drafts) == 3
    stored = list(AuditEvent.objects.order_by("id"))
    assert [e.changes for e in stored] == [d.changes for d in drafts]
    assert verify_chain().ok


def test_a_large_batch_advances_the_head_to_its_last_event():
    """Written in one bulk write (COPY on PostgreSQL, executemany on SQLite): on PostgreSQL the head moves once
    per statement (migration 0005), on SQLite once for the batch, its row-level trigger set aside meanwhile;
    either way it ends on the last event with the full count."""
    make_people(2)
    drafts = [EventDraft("update", "x.y", str(i), f"Y{i}", {"n": [i, i + 1]}) for i in range(1201)]
    record_events(drafts)
    last = AuditEvent.objects.order_by("-id").first()
    head = AuditChainHead.objects.get()
    assert (head.last_event_id, head.last_hash, head.event_count) == (last.pk, last.hash, 1203)
    record_events(drafts[:1])  # and a single append after it chains on
    assert AuditChainHead.objects.get().event_count == 1204
    assert verify_chain().ok


def test_the_head_trigger_is_statement_level_on_postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("SQLite has row-level triggers only")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT action_orientation FROM information_schema.triggers "
            "WHERE trigger_name = 'audit_event_advances_head'"
        )
        assert {row[0] for row in cursor.fetchall()} == {"STATEMENT"}


def _head_trigger_sql() -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_event_advances_head'"
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_on_sqlite_a_batch_sets_the_head_trigger_aside_and_restores_it(monkeypatch):
    """The batch is inserted without the row-level trigger and moves the head itself; the trigger is back after
    it, as it was, and after a failed batch too, so any other insert still advances the head row by row."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's (PostgreSQL's trigger is statement-level)")
    trigger = _head_trigger_sql()
    assert trigger
    drafts = [EventDraft("update", "x.y", str(i), "Y", {"n": [i, i + 1]}) for i in range(3)]
    seen = []
    real_insert = services.insert_rows

    def insert(*args, **kwargs):
        seen.append(_head_trigger_sql())
        return real_insert(*args, **kwargs)

    monkeypatch.setattr(services, "insert_rows", insert)
    record_events(drafts)
    assert seen == [None] and _head_trigger_sql() == trigger

    def fail(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(services, "insert_rows", fail)
    with pytest.raises(RuntimeError):
        record_events(drafts)
    assert _head_trigger_sql() == trigger
    monkeypatch.undo()
    AuditEvent.objects.create(
        timestamp=timezone.now(), actor_label="x", source="cli", action="create", object_type="x.y",
        object_id="9", object_repr="Y", changes={}, prev_hash="0" * 64, hash="1" * 64,
    )  # fmt: skip
    head = AuditChainHead.objects.get()
    assert (head.last_event_id, head.last_hash, head.event_count) == (
        AuditEvent.objects.latest("id").pk,
        "1" * 64,
        4,
    )


def test_on_sqlite_a_batch_can_be_appended_while_a_query_is_being_read():
    """Setting the trigger aside is a schema change: it must not trip over a statement still being read (a
    whole-fleet check run records events while it iterates over the devices)."""
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's")
    make_people(5)
    with transaction.atomic():
        for n, person in enumerate(Person.objects.order_by("pk").iterator(chunk_size=2)):
            record_events([EventDraft("update", "x.y", f"{n}-{i}", str(person), {}) for i in range(2)])
    assert verify_chain().ok
    assert AuditChainHead.objects.get().event_count == 5 + 10


def test_batches_under_a_write_behind_chain_on_from_the_head_they_left():
    """On PostgreSQL, inside core.bulk.write_behind a batch is written by the second thread and the next batch
    chains on from the head the last one left, without reading it back; a single append in between reads the
    database's head again. The chain verifies, whatever the order."""
    drafts = [EventDraft("update", "x.y", str(i), "Y", {"n": [i, i + 1]}) for i in range(150)]
    with transaction.atomic(), write_behind() as writer:
        record_events(drafts[:120])
        if writer is not None:
            assert writer.audit_head is not None
        record_events(drafts[120:130])
        record_events(drafts[130:131])  # a single append
        if writer is not None:
            assert writer.audit_head is None
        record_events(drafts[131:140])
        try:
            with transaction.atomic():  # a batch taken back with its savepoint: the next reads the head again
                record_events(drafts[140:145])
                raise RuntimeError
        except RuntimeError:
            pass
        record_events(drafts[140:])
    head = AuditChainHead.objects.get()
    last = AuditEvent.objects.order_by("-id").first()
    assert (head.last_event_id, head.last_hash, head.event_count) == (last.pk, last.hash, 150)
    assert verify_chain().ok


def test_the_audit_trail_can_be_switched_off_for_a_block():
    with context.change_context(audit_enabled=False):
        make_people(2)
    assert AuditEvent.objects.count() == 0


def test_verify_audit_exits_0_when_intact():
    make_people(3)
    code, out, _ = run_verify()
    assert code == 0
    assert "3 events verified" in out


def test_changing_an_event_is_caught_and_named():
    make_people(4)
    victim = AuditEvent.objects.order_by("id")[1]
    AuditEvent.objects.filter(pk=victim.pk).update(changes={"name": [None, "Mallory"]})
    code, _, err = run_verify()
    assert code == 1
    assert f"event #{victim.pk}" in err
    assert "content does not match" in err


def test_changing_an_event_and_its_hash_is_caught_at_the_next_event():
    make_people(4)
    first, second = AuditEvent.objects.order_by("id")[:2]
    AuditEvent.objects.filter(pk=first.pk).update(hash="f" * 64)
    result = verify_chain()
    assert not result.ok
    assert result.broken_event_id in (first.pk, second.pk)


def test_deleting_an_event_in_the_middle_is_caught():
    make_people(4)
    events = list(AuditEvent.objects.order_by("id"))
    # A raw delete, as someone with database access would do it.
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [events[1].pk])
    code, _, err = run_verify()
    assert code == 1
    assert f"event #{events[2].pk}" in err


def test_deleting_the_newest_event_is_caught_by_the_head():
    make_people(3)
    last = AuditEvent.objects.order_by("id").last()
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [last.pk])
    code, _, err = run_verify()
    assert code == 1
    assert f"#{last.pk}" in err


def test_deleting_every_event_is_caught():
    make_people(2)
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM audit_auditevent")
    assert not verify_chain().ok


def test_commands_are_audited_as_cli_with_their_own_request_id(admin_user):
    out = io.StringIO()
    call_command("create_api_token", admin_user.username, stdout=out, stderr=io.StringIO())
    event = AuditEvent.objects.get(object_type="users.apitoken")
    assert event.source == "cli"
    assert event.actor_label.startswith("cli:")
    assert len(event.request_id) == 32


def test_the_time_index_is_brin_on_postgresql_and_a_btree_on_sqlite():
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "audit_auditevent")
    on_time = [spec for spec in constraints.values() if spec["index"] and spec["columns"] == ["timestamp"]]
    assert len(on_time) == 1
    assert on_time[0]["type"] == ("brin" if connection.vendor == "postgresql" else "idx")
