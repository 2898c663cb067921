"""Importing feeds together: `import_feeds` and `gatehouse import_devices SOURCE FILE [SOURCE FILE ...]`.

One transaction for every feed, the changed devices reconciled and checked once, one creation event per new
device, and nothing at all written when any feed cannot be imported.
"""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import IntegrityError
from django.utils import timezone

from gatehouse.audit.models import AuditEvent
from gatehouse.core.permissions import SYSTEM
from gatehouse.desk.models import Request
from gatehouse.directory.tests.factories import PersonFactory
from gatehouse.endpoints import checks, reconcile
from gatehouse.endpoints.feeds import parse_feed
from gatehouse.endpoints.feeds import writers as w
from gatehouse.endpoints.feeds.base import FeedRecord
from gatehouse.endpoints.imports import import_feeds
from gatehouse.endpoints.models import CheckResult, Device, FeedImport, Remediation, SourceRecord

pytestmark = pytest.mark.django_db

MODEL = "MacBook Pro (14-inch, 2024)"
# In both feeds; only in Jamf (so it lacks EDR and fails the agents check).
ADA = w.DeviceSpec("C02ADA001", "ada-mbp", "macos", "99.0", owner_email="ada@example.com", model=MODEL)
BOB = w.DeviceSpec("C02BOB001", "bob-mbp", "macos", "99.0", owner_email="bob@example.com", model=MODEL)


def jamf_content(*specs, seen=None) -> str:
    seen = seen or timezone.now()
    return w.jamf_file([w.jamf_computer(s, index=i, seen=seen) for i, s in enumerate(specs, 1)])


def s1_content(*specs, seen=None) -> str:
    seen = seen or timezone.now()
    return w.sentinelone_file([w.sentinelone_agent(s, index=i, seen=seen) for i, s in enumerate(specs, 1)])


@pytest.fixture
def people():
    return {
        "ada": PersonFactory(email="ada@example.com", handle="ada"),
        "bob": PersonFactory(email="bob@example.com", handle="bob"),
    }


@pytest.fixture
def spy(monkeypatch):
    """Records each reconciliation and check run the import starts (the device ids it was given)."""
    calls = {"reconciliations": 0, "checks": []}
    real_checks, real_reconciliation = checks.run_checks, reconcile.Reconciliation

    def run_checks(device_ids=None, **kwargs):
        calls["checks"].append(sorted(device_ids))
        return real_checks(device_ids, **kwargs)

    class Reconciliation(real_reconciliation):
        def __init__(self, **kwargs):
            calls["reconciliations"] += 1
            super().__init__(**kwargs)

    monkeypatch.setattr(checks, "run_checks", run_checks)
    monkeypatch.setattr(reconcile, "Reconciliation", Reconciliation)
    return calls


def not_written():
    """Nothing of an import is left: no device, no record, no device or import audit event."""
    return (
        not Device.objects.exists()
        and not SourceRecord.objects.exists()
        and not CheckResult.objects.exists()
        and not AuditEvent.objects.filter(object_type__startswith="endpoints.").exists()
    )


# --- import_feeds ---------------------------------------------------------------------------------------------


def test_feeds_import_together_reconciled_and_checked_once(
    people, spy, huey_immediate, django_capture_on_commit_callbacks
):
    feeds = [
        ("jamf", parse_feed("jamf", jamf_content(ADA, BOB)), "jamf.json"),
        ("sentinelone", parse_feed("sentinelone", s1_content(ADA)), "s1.json"),
    ]
    with django_capture_on_commit_callbacks() as callbacks:
        runs = import_feeds(feeds, actor=SYSTEM)
    assert [(r.source, r.origin, r.state, r.created) for r in runs] == [
        ("jamf", "jamf.json", "done", 2),
        ("sentinelone", "s1.json", "done", 1),
    ]
    ada, bob = Device.objects.get(serial="C02ADA001"), Device.objects.get(serial="C02BOB001")
    assert sorted(ada.records.values_list("source", flat=True)) == ["jamf", "sentinelone"]
    # One reconciliation and one check run over both feeds' devices, not one per feed.
    assert spy["reconciliations"] == 1
    assert spy["checks"] == [sorted([ada.pk, bob.pk])]
    # Ada's Mac was checked with both feeds in: it passes the agents check (and every other) straight away.
    agents = CheckResult.objects.get(device=ada, name="agents")
    assert agents.passed, agents.reason
    assert (ada.passing, ada.failing_checks) == (True, [])
    assert CheckResult.objects.get(device=bob, name="agents").passed is False
    # Nothing was filed inside the import; one remediation job is queued for after the commit.
    assert not Request.objects.exists()
    assert len(callbacks) == 1
    with django_capture_on_commit_callbacks(execute=True):
        callbacks[0]()
    # The job files Bob's requests (no EDR), none for Ada: she never failed in between.
    assert not Remediation.objects.filter(device=ada).exists()
    assert set(Remediation.objects.filter(device=bob).values_list("check_name", flat=True)) == {
        "agents",
        "edr_health",
    }
    assert Request.objects.filter(requester=people["bob"]).count() == 2


def test_each_new_device_has_one_creation_event_with_owner_and_model(people):
    import_feeds(
        [
            ("jamf", parse_feed("jamf", jamf_content(ADA, BOB)), "jamf.json"),
            ("sentinelone", parse_feed("sentinelone", s1_content(ADA)), "s1.json"),
        ],
        actor=SYSTEM,
    )
    for device, person in ((Device.objects.get(serial="C02ADA001"), people["ada"]),
                           (Device.objects.get(serial="C02BOB001"), people["bob"])):  # fmt: skip
        [event] = AuditEvent.objects.filter(object_type=Device.audit_label(), object_id=str(device.pk))
        assert event.action == "create"
        changes = event.changes
        assert changes["serial"] == [None, device.serial]
        assert changes["hostname"] == [None, device.hostname]
        assert changes["platform"] == [None, "macos"]
        assert changes["os_version"] == [None, "99.0"]
        assert changes["model"] == [None, MODEL]
        assert changes["owner_id"] == [None, person.pk]
        assert changes["owner_match"] == [None, "email"]
        assert changes["disk_encrypted"] == [None, True]
        assert device.owner == person and device.model == MODEL
    # Each feed's run is one event too; nothing else was audited about the devices.
    assert AuditEvent.objects.filter(object_type="endpoints.feedimport").count() == 2
    assert AuditEvent.objects.filter(object_type=Device.audit_label()).count() == 2


def test_a_second_feed_that_cannot_be_written_leaves_nothing(people):
    """The database refuses the second feed's record (a hostname of None): the first feed's devices, records
    and events roll back with it, and each feed is left as a failed run with the error."""
    broken = FeedRecord(
        source="sentinelone", serial="C02CAROL1", hostname=None, content_hash="0" * 64, label="record 1"
    )
    with pytest.raises(IntegrityError) as caught:
        import_feeds(
            [
                ("jamf", parse_feed("jamf", jamf_content(ADA, BOB)), "jamf.json"),
                ("sentinelone", [broken], "s1.json"),
            ],
            actor=SYSTEM,
        )
    assert not_written()
    failed = list(
        FeedImport.objects.order_by("pk").values_list("source", "origin", "state", "records", "error")
    )
    assert [row[:4] for row in failed] == [
        ("jamf", "jamf.json", "failed", 2),
        ("sentinelone", "s1.json", "failed", 1),
    ]
    assert all(row[4] == (str(caught.value)[:2000] or type(caught.value).__name__) for row in failed)


def test_reimporting_both_feeds_unchanged_writes_nothing(people, spy):
    feeds = [
        ("jamf", parse_feed("jamf", jamf_content(ADA, BOB, seen=timezone.now())), "jamf.json"),
        ("sentinelone", parse_feed("sentinelone", s1_content(ADA, seen=timezone.now())), "s1.json"),
    ]
    import_feeds(feeds, actor=SYSTEM)
    events = AuditEvent.objects.count()
    runs = import_feeds(feeds, actor=SYSTEM)
    assert [(r.created, r.changed, r.unchanged) for r in runs] == [(0, 0, 2), (0, 0, 1)]
    assert len(spy["checks"]) == 1  # no second check run: nothing changed
    assert AuditEvent.objects.count() == events + 2  # the two runs' events


# --- the command ----------------------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    jamf_path, s1_path = tmp_path / "jamf.json", tmp_path / "s1.json"
    jamf_path.write_text(jamf_content(ADA, BOB))
    agents = [w.sentinelone_agent(ADA, index=1, seen=timezone.now())]
    agents.append(
        w.sentinelone_agent(w.DeviceSpec("", "cloud-server-1", "linux", "22.04"), index=2, seen=None)
    )
    s1_path.write_text(w.sentinelone_file(agents))
    return jamf_path, s1_path


def test_command_imports_several_pairs_together(people, files, spy, capsys):
    jamf_path, s1_path = files
    call_command("import_devices", "jamf", str(jamf_path), "sentinelone", str(s1_path))
    captured = capsys.readouterr()
    assert f"{jamf_path}: 2 records read; 2 new, 0 changed, 0 unchanged." in captured.out
    assert f"{s1_path}: 1 records read; 1 new, 0 changed, 0 unchanged, 1 skipped." in captured.out
    assert f"warning: {s1_path}: record 2 (cloud-server-1): no serial number; skipped" in captured.err
    assert spy["checks"] == [sorted(Device.objects.values_list("pk", flat=True))]
    ada = Device.objects.get(serial="C02ADA001")
    assert sorted(ada.records.values_list("source", flat=True)) == ["jamf", "sentinelone"]
    assert CheckResult.objects.get(device=ada, name="agents").passed
    runs = FeedImport.objects.order_by("pk")
    assert list(runs.values_list("source", "origin", "state")) == [
        ("jamf", "jamf.json", "done"),
        ("sentinelone", "s1.json", "done"),
    ]
    assert AuditEvent.objects.filter(object_type="endpoints.feedimport", source="cli").count() == 2
    # Again: every record unchanged.
    call_command("import_devices", "jamf", str(jamf_path), "sentinelone", str(s1_path))
    out = capsys.readouterr().out
    assert "0 new, 0 changed, 2 unchanged." in out and "0 new, 0 changed, 1 unchanged, 1 skipped." in out


def test_command_single_pair_warnings_keep_their_form(files, capsys):
    _, s1_path = files
    call_command("import_devices", "sentinelone", str(s1_path))
    err = capsys.readouterr().err
    assert "warning: record 2 (cloud-server-1): no serial number; skipped" in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["jamf", "{jamf}", "sentinelone"], "expected SOURCE FILE pairs, got 3 arguments"),
        (
            ["jamf", "{jamf}", "intune", "{s1}"],
            "argument 3: unknown source 'intune'; choose from crowdstrike, drivestrike, jamf, sentinelone",
        ),
        (
            ["jamf", "{jamf}", "sentinelone", "{s1}", "jamf", "{s1}"],
            "argument 5: source jamf is given twice (also argument 1); give each source once",
        ),
        (
            ["jamf", "{jamf}", "sentinelone", "{missing}"],
            "{missing}: cannot read (No such file or directory)",
        ),
        (
            ["jamf", "{jamf}", "sentinelone", "{bad}"],
            "{bad}: record 2: lastActiveDate: 'last tuesday' is not an ISO 8601 date and time",
        ),
    ],
    ids=["odd", "unknown-source", "source-twice", "unreadable", "parse-error"],
)
def test_command_bad_input_exits_1_and_writes_nothing(argv, message, files, tmp_path, capsys):
    jamf_path, s1_path = files
    bad = tmp_path / "bad.json"
    bad.write_text(
        w.sentinelone_file(
            [
                w.sentinelone_agent(ADA, index=1, seen=timezone.now()),
                {**w.sentinelone_agent(BOB, index=2, seen=None), "lastActiveDate": "last tuesday"},
            ]
        )
    )
    paths = {"jamf": jamf_path, "s1": s1_path, "missing": tmp_path / "nope.json", "bad": bad}
    with pytest.raises(SystemExit) as exited:
        call_command("import_devices", *(arg.format(**paths) for arg in argv))
    assert exited.value.code == 1
    err = capsys.readouterr().err
    assert message.format(**paths) in err and "nothing was imported" in err
    assert not_written() and not FeedImport.objects.exists() and not AuditEvent.objects.exists()


def test_command_needs_at_least_one_pair():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="SOURCE FILE"):
        call_command("import_devices")


def test_one_feed_at_a_time_the_mdm_device_fails_in_between(
    people, huey_immediate, django_capture_on_commit_callbacks
):
    """The contrast: imported one after the other, Ada's Mac is checked with Jamf alone and fails the agents
    check until the EDR feed arrives, and the remediation job in between files her requests."""
    for source, content in (("jamf", jamf_content(ADA)), ("sentinelone", s1_content(ADA))):
        with django_capture_on_commit_callbacks(execute=True):
            import_feeds([(source, parse_feed(source, content), source)], actor=SYSTEM)
        if source == "jamf":
            assert "agents" in Device.objects.get(serial="C02ADA001").failing_checks
            assert Request.objects.filter(requester=people["ada"]).count() == 2
    ada = Device.objects.get(serial="C02ADA001")
    assert ada.passing is True
    # The requests filed in between are resolved again by the second import's job.
    assert Remediation.objects.filter(device=ada).count() == 2
    assert not Remediation.objects.filter(device=ada, resolved_at__isnull=True).exists()


def test_a_large_feed_looks_serials_up_by_reading_the_table(people, monkeypatch):
    """Above WHOLE_TABLE_ABOVE serials the import reads the existing records and devices whole instead of by IN
    lists: the same devices and records come out, and an unchanged re-import still changes nothing."""
    from gatehouse.endpoints import imports

    def run():
        return import_feeds(
            [
                ("jamf", parse_feed("jamf", jamf_content(ADA, BOB, seen=seen)), "jamf.json"),
                ("sentinelone", parse_feed("sentinelone", s1_content(ADA, seen=seen)), "s1.json"),
            ],
            actor=SYSTEM,
        )

    seen = timezone.now()
    monkeypatch.setattr(imports, "WHOLE_TABLE_ABOVE", 0)
    first = run()
    assert [(r.created, r.changed, r.unchanged) for r in first] == [(2, 0, 0), (1, 0, 0)]
    # ADA's EDR record joined the device Jamf created in the same run: two devices, three records.
    assert Device.objects.count() == 2
    ada = Device.objects.get(serial="C02ADA001")
    assert sorted(ada.records.values_list("source", flat=True)) == ["jamf", "sentinelone"]
    again = run()
    assert [(r.created, r.changed, r.unchanged) for r in again] == [(0, 0, 2), (0, 0, 1)]
    assert SourceRecord.objects.count() == 3
