"""gatehouse.core.bulk: the plain bulk writes imports use, on both databases, small (one statement) and large
(executemany on SQLite, COPY on PostgreSQL), written values read back through the ORM."""

import datetime
import gc
import sys
from types import SimpleNamespace

import pytest
from django.db import IntegrityError, connection, transaction

from gatehouse.core.bulk import (
    COPY_ABOVE,
    JsonText,
    bulk_set,
    cycle_collection_paused,
    insert_rows,
    reserve_ids,
    write_behind,
)
from gatehouse.endpoints.models import CheckResult, Device, Platform

pytestmark = pytest.mark.django_db

STAMP = datetime.datetime(2026, 11, 30, 9, 30, 15, 123456, tzinfo=datetime.UTC)
FIELDS = ["created", "last_updated", "serial", "hostname", "platform", "os_version", "model", "owner_match",
          "is_active", "failing_checks", "last_seen_at"]  # fmt: skip


def device_rows(n: int) -> list[tuple]:
    rows = []
    for i in range(n):
        failing = JsonText('["agents", "os"]') if i % 2 else ["disk_encryption"]
        seen = STAMP - datetime.timedelta(days=i) if i % 3 else None
        rows.append((STAMP, STAMP, f"SERIAL{i:05d}", f"host-{i}", Platform.MACOS, "15.7.1", "Mac", "", True,
                     failing, seen))  # fmt: skip
    return rows


@pytest.mark.parametrize("n", [3, COPY_ABOVE + 50])
def test_insert_rows_writes_what_the_orm_reads_back(n):
    assert insert_rows(Device, FIELDS, device_rows(n)) == []
    devices = list(Device.objects.order_by("serial"))
    assert len(devices) == n
    first, second = devices[0], devices[1]
    # A TextChoices member is written as its value, JSON text as it is, a list encoded, datetimes as instants.
    assert first.platform == "macos" and type(first.platform) is str
    assert first.failing_checks == ["disk_encryption"] and second.failing_checks == ["agents", "os"]
    assert first.created == STAMP and first.last_seen_at is None
    assert second.last_seen_at == STAMP - datetime.timedelta(days=1)


@pytest.mark.parametrize("n", [3, COPY_ABOVE + 50])
def test_upsert_returning_and_bulk_set(n):
    insert_rows(Device, FIELDS, device_rows(n))
    ids = dict(Device.objects.values_list("serial", "pk"))
    results = [(pk, "os", True, "fine", STAMP) for pk in ids.values()]
    columns = ["device", "name", "passed", "reason", "checked_at"]
    insert_rows(CheckResult, columns, results)
    changed = [(pk, "os", False, "behind", STAMP) for pk in ids.values()]
    insert_rows(CheckResult, columns, changed, conflict=["device", "name"], update=["passed", "reason"])
    assert CheckResult.objects.count() == n
    assert set(CheckResult.objects.values_list("passed", "reason")) == {(False, "behind")}
    returned = insert_rows(
        CheckResult,
        columns,
        [(pk, "agents", True, "ok", STAMP) for pk in ids.values()],
        returning=["device", "name"],
    )
    assert sorted(returned) == sorted((pk, "agents") for pk in ids.values())
    later = STAMP + datetime.timedelta(hours=1)
    rows = [SimpleNamespace(pk=pk, hostname=f"renamed-{pk}", last_updated=later) for pk in ids.values()]
    assert bulk_set(Device, rows, ["hostname", "last_updated"]) == n
    assert all(d.hostname == f"renamed-{d.pk}" and d.last_updated == later for d in Device.objects.all())


def test_a_row_of_the_wrong_width_is_refused_and_the_write_rolls_back():
    with pytest.raises(ValueError, match="a row of 2 values for 11 columns"), transaction.atomic():
        insert_rows(Device, FIELDS, [*device_rows(1), ("x", "y")])
    assert not Device.objects.exists()


def test_reserved_ids_are_new_and_the_rows_inserted_with_them_keep_them():
    insert_rows(Device, FIELDS, device_rows(2))
    highest = Device.objects.order_by("-pk").values_list("pk", flat=True).first()
    ids = reserve_ids(Device, 3)
    assert len(set(ids)) == 3 and min(ids) > highest
    rows = [(pk, *row) for pk, row in zip(ids, device_rows(5)[2:], strict=True)]
    insert_rows(Device, ["id", *FIELDS], rows)
    assert sorted(Device.objects.filter(serial__in=[r[3] for r in rows]).values_list("pk", flat=True)) == ids
    # Later ids, the ORM's included, come after them.
    assert min(reserve_ids(Device, 2)) > max(ids)
    assert Device.objects.create(serial="LATER").pk > max(ids)
    assert reserve_ids(Device, 0) == []


# ---------------------------------------------------------------------------------------------------------------
# Pausing the cyclic collector; the PostgreSQL write-behind


def test_cycle_collection_is_paused_inside_and_restored_after_even_nested_and_on_error():
    assert gc.isenabled()
    with cycle_collection_paused():
        assert not gc.isenabled()
        with cycle_collection_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # only the outermost block turns it back on
    assert gc.isenabled()
    with pytest.raises(ValueError), cycle_collection_paused():
        raise ValueError
    assert gc.isenabled()

    @cycle_collection_paused()
    def inside() -> bool:
        return gc.isenabled()

    assert (inside(), inside(), gc.isenabled()) == (False, False, True)  # as a decorator, each call
    gc.disable()
    try:
        with cycle_collection_paused():
            pass
        assert not gc.isenabled()  # it was off before: left off
    finally:
        gc.enable()


def test_write_behind_is_nothing_on_sqlite():
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's")
    with transaction.atomic(), write_behind() as writer:
        assert writer is None
        insert_rows(Device, FIELDS, device_rows(3))
        assert Device.objects.count() == 3


postgres_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="the write-behind is PostgreSQL's"
)


@postgres_only
def test_write_behind_writes_in_order_and_a_read_sees_every_write_queued_before_it():
    interval = sys.getswitchinterval()
    with transaction.atomic(), write_behind() as writer:
        assert writer is not None and sys.getswitchinterval() < interval
        assert insert_rows(Device, FIELDS, device_rows(COPY_ABOVE + 50), batch_size=40) == []
        ids = dict(Device.objects.values_list("serial", "pk"))  # waits for the writer first
        assert len(ids) == COPY_ABOVE + 50
        # Results of those devices: queued after them, so their foreign keys hold when the batch is written.
        insert_rows(CheckResult, ["device", "name", "passed", "reason", "checked_at"],
                    [(pk, "os", True, "fine", STAMP) for pk in ids.values()])  # fmt: skip
        assert CheckResult.objects.filter(reason="fine").count() == len(ids)
        with write_behind() as inner:  # nested: the same writer
            assert inner is writer
    assert sys.getswitchinterval() == interval
    device = Device.objects.get(serial="SERIAL00001")
    assert device.failing_checks == ["agents", "os"] and device.last_seen_at == STAMP - datetime.timedelta(
        days=1
    )


@postgres_only
def test_a_failed_write_behind_raises_at_the_end_of_the_block_and_nothing_stays():
    rows = device_rows(3)
    rows.append(
        (STAMP, STAMP, "SERIAL00000", "dup", Platform.MACOS, "15", "Mac", "", True, [], None)
    )  # same serial
    with pytest.raises(IntegrityError), transaction.atomic(), write_behind():
        insert_rows(Device, FIELDS, rows)
    assert Device.objects.count() == 0
    assert not getattr(connection, "gatehouse_write_behind", None)


@postgres_only
def test_a_failed_write_behind_raises_at_the_next_write_and_the_rest_is_dropped():
    rows = device_rows(2) + device_rows(1)  # the third repeats the first serial
    with pytest.raises(IntegrityError), transaction.atomic(), write_behind() as writer:
        insert_rows(Device, FIELDS, rows)
        writer.jobs.join()  # the failure is in; the next write raises it
        insert_rows(
            Device, FIELDS, [(STAMP, STAMP, "OTHER", "h", Platform.MACOS, "15", "Mac", "", True, [], None)]
        )
    assert Device.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_write_behind_needs_the_transaction_its_writes_belong_to():
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's")
    with pytest.raises(RuntimeError, match="inside the transaction"), write_behind():
        pass
