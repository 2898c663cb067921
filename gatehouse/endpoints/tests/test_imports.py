"""import_feed and `gatehouse import_devices`: all or nothing, idempotent, unchanged records skipped cheaply."""

from __future__ import annotations

import datetime
import json

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.endpoints.feeds import jamf, parse_feed, sentinelone
from gatehouse.endpoints.imports import import_feed
from gatehouse.endpoints.models import Device, FeedImport, SourceRecord
from gatehouse.endpoints.tests.test_feed_parsers import jamf_computer, s1_agent

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC)


def jamf_feed(n: int, **overrides):
    return jamf.parse_items([jamf_computer(f"C02-{i:05d}", id=str(i), **overrides) for i in range(n)])


def test_import_creates_devices_records_and_one_event():
    run = import_feed("jamf", jamf_feed(3), actor=SYSTEM, origin="jamf.json", now=NOW)
    assert (run.state, run.records, run.created, run.changed, run.unchanged) == ("done", 3, 3, 0, 0)
    assert sorted(Device.objects.values_list("serial", flat=True)) == ["C0200000", "C0200001", "C0200002"]
    record = SourceRecord.objects.get(serial="C0200001")
    assert (record.source, record.hostname, record.os_version, record.disk_encrypted) == (
        "jamf",
        "ada-mbp",
        "15.1.1",
        True,
    )
    assert record.raw["hardware"]["serialNumber"] == "C02-00001"
    assert AuditEvent.objects.filter(object_type="endpoints.feedimport", object_id=str(run.pk)).count() == 1
    assert AuditEvent.objects.filter(object_type="endpoints.device", action="create").count() == 3
    device = Device.objects.get(serial="C0200001")
    assert device.checked_at is not None  # reconciled and checked after the records were written
    assert device.last_seen_at == datetime.datetime(2026, 11, 28, 9, 15, 0, 123000, tzinfo=datetime.UTC)


def test_second_source_joins_the_same_device_by_normalized_serial():
    import_feed("jamf", jamf_feed(1), actor=SYSTEM, origin="jamf.json", now=NOW)
    import_feed(
        "sentinelone",
        sentinelone.parse_items([s1_agent("c02 00000")]),
        actor=SYSTEM,
        origin="s1.json",
        now=NOW,
    )
    device = Device.objects.get()
    assert sorted(device.records.values_list("source", flat=True)) == ["jamf", "sentinelone"]


def test_reimport_unchanged_is_a_no_op_with_constant_queries():
    import_feed("jamf", jamf_feed(5), actor=SYSTEM, origin="a", now=NOW)
    import_feed("jamf", jamf_feed(60), actor=SYSTEM, origin="b", now=NOW)
    events = AuditEvent.objects.count()
    counts = []
    for n in (5, 60):
        with CaptureQueriesContext(connection) as queries:
            run = import_feed("jamf", jamf_feed(n), actor=SYSTEM, origin="again", now=NOW)
        assert (run.created, run.changed, run.unchanged) == (0, 0, n)
        counts.append(len(queries))
    # One read of the stored hashes, the FeedImport row, its audit event: the same for 5 records as for 60,
    # and no device is reconciled or checked again.
    assert counts[0] == counts[1] <= 12
    assert AuditEvent.objects.count() == events + 2
    assert SourceRecord.objects.count() == 60


def test_changed_record_is_replaced():
    import_feed("jamf", jamf_feed(2), actor=SYSTEM, origin="a", now=NOW)
    feed = jamf.parse_items(
        [
            jamf_computer("C02-00000", id="0"),
            jamf_computer("C02-00001", id="1", operatingSystem={"version": "15.2"}),
        ]
    )
    run = import_feed("jamf", feed, actor=SYSTEM, origin="b", now=NOW)
    assert (run.created, run.changed, run.unchanged) == (0, 1, 1)
    assert SourceRecord.objects.get(serial="C0200001").os_version == "15.2"
    assert SourceRecord.objects.count() == 2


def test_duplicate_serial_in_one_feed_keeps_the_most_recent():
    older = jamf_computer("C02-X", general={"name": "old", "lastContactTime": "2026-10-01T00:00:00Z"})
    newer = jamf_computer("c02x", general={"name": "new", "lastContactTime": "2026-11-01T00:00:00Z"})
    run = import_feed("jamf", jamf.parse_items([newer, older]), actor=SYSTEM, origin="dup", now=NOW)
    assert SourceRecord.objects.get().hostname == "new"
    assert run.records == 2 and run.created == 1
    assert run.warnings == ["record 2: serial C02X also in record 1; the more recent kept"]


def test_failure_rolls_back_everything_and_records_the_failure(monkeypatch):
    from gatehouse.endpoints import checks

    def boom(*args, **kwargs):
        raise RuntimeError("checks exploded")

    monkeypatch.setattr(checks, "run_checks", boom)
    with pytest.raises(RuntimeError):
        import_feed("jamf", jamf_feed(3), actor=SYSTEM, origin="jamf.json", now=NOW)
    assert not Device.objects.exists() and not SourceRecord.objects.exists()
    assert not AuditEvent.objects.filter(object_type__startswith="endpoints.").exists()
    failed = FeedImport.objects.get()
    assert (failed.state, failed.error, failed.records) == ("failed", "checks exploded", 3)


def test_import_needs_permission(make_user):
    with pytest.raises(PermissionDenied):
        import_feed("jamf", jamf_feed(1), actor=make_user("team_member"), origin="x")
    run = import_feed("jamf", jamf_feed(1), actor=make_user("security_engineer"), origin="x")
    assert run.started_by is not None


def test_real_jamf_sample_imports(shared_data):
    path = shared_data / "samples/jamf/go-sdk-jamfpro-v2_computers-inventory_list.json"
    run = import_feed("jamf", parse_feed("jamf", path.read_bytes()), actor=SYSTEM, origin=path.name)
    assert run.created == 2
    again = import_feed("jamf", parse_feed("jamf", path.read_bytes()), actor=SYSTEM, origin=path.name)
    assert again.unchanged == 2


# --- the command ---------------------------------------------------------------------------------------------


def test_command_imports_and_summarises(tmp_path, capsys):
    path = tmp_path / "jamf.json"
    path.write_text(json.dumps({"totalCount": 2, "results": [jamf_computer("A1"), jamf_computer("A2")]}))
    call_command("import_devices", "jamf", str(path))
    out = capsys.readouterr().out
    assert "2 records read; 2 new, 0 changed, 0 unchanged." in out
    call_command("import_devices", "jamf", str(path))
    assert "0 new, 0 changed, 2 unchanged." in capsys.readouterr().out
    assert AuditEvent.objects.filter(object_type="endpoints.feedimport", source="cli").count() == 2


def test_command_drivestrike_warns_about_skipped_lines(tmp_path, capsys):
    path = tmp_path / "ds.csv"
    path.write_text("serial,hostname,encryption\nLX1,ada-linux,yes\n,ghost,no\n")
    call_command("import_devices", "drivestrike", str(path))
    captured = capsys.readouterr()
    assert "line 3 (ghost): no serial number; skipped" in captured.err
    assert "1 records read; 1 new" in captured.out and "1 skipped" in captured.out


def test_command_bad_record_exits_1_naming_it_and_writes_nothing(tmp_path, capsys):
    path = tmp_path / "s1.json"
    path.write_text(json.dumps({"data": [s1_agent("S1"), s1_agent("S2", lastActiveDate="last tuesday")]}))
    with pytest.raises(SystemExit) as exited:
        call_command("import_devices", "sentinelone", str(path))
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert "record 2: lastActiveDate: 'last tuesday' is not an ISO 8601 date and time" in err
    assert "nothing was imported" in err
    assert not Device.objects.exists() and not FeedImport.objects.exists() and not AuditEvent.objects.exists()


def test_command_missing_file_exits_1(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        call_command("import_devices", "jamf", str(tmp_path / "nope.json"))
    assert exited.value.code == 1
    assert "cannot read" in capsys.readouterr().err


def test_the_model_is_read_from_each_vendors_field_and_stored_with_the_record():
    from gatehouse.endpoints.feeds.base import model_of

    assert model_of({"hardware": {"model": "MacBook Pro"}, "modelName": "other"}) == "MacBook Pro"
    assert model_of({"hardware": None, "modelName": "Latitude 7440"}) == "Latitude 7440"
    assert model_of({"system_product_name": "ThinkPad X1"}) == "ThinkPad X1"
    assert model_of({"hardware": {"model": 42}}) == "42"  # not text: its JSON
    assert model_of({"hardware": {"model": "x" * 300}}) == "x" * 200  # the column's length
    assert model_of({}) == "" and model_of([]) == ""
    run = import_feed("jamf", jamf_feed(1), actor=SYSTEM, origin="jamf.json", now=NOW)
    assert run.created == 1
    record = SourceRecord.objects.get()
    assert record.model_name == model_of(record.raw) != ""
    assert record.device.model == record.model_name


def test_the_migration_fills_the_model_of_records_stored_before_it():
    from django.apps import apps

    fill = __import__(
        "gatehouse.endpoints.migrations.0003_source_record_model_name", fromlist=["fill_model_names"]
    ).fill_model_names
    import_feed("jamf", jamf_feed(2), actor=SYSTEM, origin="jamf.json", now=NOW)
    expected = dict(SourceRecord.objects.values_list("pk", "model_name"))
    SourceRecord.objects.update(model_name="")
    fill(apps, None)
    assert dict(SourceRecord.objects.values_list("pk", "model_name")) == expected
    assert all(expected.values())
