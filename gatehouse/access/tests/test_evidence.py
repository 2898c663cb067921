"""Evidence exports (CSV and JSON), their verification and the review commands (part D)."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatehouse.access import evidence, reviews
from gatehouse.access.models import FulfilmentTask, ReviewCampaign
from gatehouse.access.tests.test_reviews import NOW, start, world  # noqa: F401  (fixture)
from gatehouse.core.permissions import SYSTEM


@pytest.fixture
def decided(world):  # noqa: F811
    campaign = start(world)
    items = {i.grant_id: i for i in campaign.items.all()}
    reviews.decide_item(items[world.grants.alice_crm.pk], actor=world.owner, decision="keep")
    reviews.decide_item(
        items[world.grants.gone_crm.pk], actor=world.owner, decision="revoke", reason="Left in October"
    )
    from gatehouse.access.fulfilment import complete_task

    task = FulfilmentTask.objects.get(review_item=items[world.grants.gone_crm.pk])
    complete_task(task, actor=world.admin, evidence="Removed in the CRM admin console, ticket IT-42")
    campaign.refresh_from_db()
    return campaign


def test_csv_export_holds_snapshot_decisions_and_tasks(decided, world):  # noqa: F811
    data = evidence.export_csv(decided, now=NOW)
    text = data.decode()
    assert f"# snapshot_sha256: {decided.snapshot_sha256}\n" in text
    assert "# snapshot_rows: 5\n" in text
    assert "# snapshot_source: live grants" in text
    body = [line for line in text.splitlines() if not line.startswith("#")]
    rows = list(csv.DictReader(io.StringIO("\n".join(body))))
    assert len(rows) == 5
    assert [int(r["grant_id"]) for r in rows] == sorted(int(r["grant_id"]) for r in rows)
    gone = next(r for r in rows if r["person_email"] == "gone@example.com")
    assert (gone["decision"], gone["reason"], gone["decided_by"]) == ("revoke", "Left in October", "owner")
    assert gone["revoke_task_state"] == "done" and gone["revoke_task_done_by"] == "admin"
    assert "IT-42" in gone["revoke_task_evidence"]
    assert evidence.verify_bytes(data).ok


def test_json_export_verifies_and_holds_everything(decided):
    data = evidence.export_json(decided, now=NOW)
    document = json.loads(data)
    assert document["snapshot"]["row_count"] == 5
    assert document["snapshot"]["sha256"] == decided.snapshot_sha256
    assert len(document["decisions"]) == 5
    assert [t["kind"] for t in document["tasks"]] == ["revoke"]
    assert document["tasks"][0]["state"] == "done"
    result = evidence.verify_bytes(data)
    assert result.ok and result.rows == 5


def test_changed_row_is_named(decided):
    data = evidence.export_csv(decided, now=NOW)
    tampered = data.replace(b"gone@example.com", b"gone@examp1e.com", 1)
    result = evidence.verify_bytes(tampered)
    assert not result.ok and "row_sha256" in result.problem and "line" in result.problem


def test_row_with_recomputed_row_hash_fails_the_snapshot_hash(decided):
    data = evidence.export_json(decided, now=NOW)
    document = json.loads(data)
    row = document["snapshot"]["rows"][0]
    row[3] = "Someone Else"
    row[-1] = reviews.row_sha256(row[:-1])
    result = evidence.verify_bytes(json.dumps(document).encode())
    assert not result.ok and result.problem.startswith("snapshot_sha256")


def test_dropped_row_fails_the_count(decided):
    data = evidence.export_json(decided, now=NOW)
    document = json.loads(data)
    document["snapshot"]["rows"].pop()
    result = evidence.verify_bytes(json.dumps(document).encode())
    assert not result.ok and result.problem.startswith("snapshot row count")


def test_changed_decision_fails_the_export_hash(decided):
    data = evidence.export_csv(decided, now=NOW)
    tampered = data.replace(b"Left in October", b"Left in November", 1)
    result = evidence.verify_bytes(tampered)
    assert not result.ok and result.problem.startswith("export_sha256")
    data = evidence.export_json(decided, now=NOW)
    result = evidence.verify_bytes(data.replace(b"Left in October", b"Left in Octobre", 1))
    assert not result.ok and result.problem.startswith("export_sha256")


def test_snapshot_tampered_in_the_database_shows_in_the_export(decided):
    decided.items.filter(person_email="alice@example.com").update(person_name="Mallory")
    result = evidence.verify_bytes(evidence.export_csv(decided, now=NOW))
    assert not result.ok and result.problem.startswith("snapshot_sha256")


def test_garbage_is_a_mismatch_not_a_crash():
    for data in (
        b"",
        b"{",
        b"[]",
        b"# format: x\n",
        b"\xff\xfe",
        b'{"format": "gatehouse-access-review-evidence/1"}',
    ):
        assert not evidence.verify_bytes(data).ok


@pytest.fixture
def exports(decided):
    return {"csv": evidence.export_csv(decided, now=NOW), "json": evidence.export_json(decided, now=NOW)}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["csv", "json"]), where=st.floats(0, 1, exclude_max=True), new=st.integers(0, 255))
def test_any_single_changed_byte_in_a_row_is_caught(exports, fmt, where, new):
    data = exports[fmt]
    # The rows: the CSV's data lines, the JSON's snapshot rows.
    if fmt == "csv":
        start_at = data.index(b"\n", data.index(b"\ngrant_id,")) + 1
        end_at = data.rindex(b"\n# export_sha256: ")
    else:
        start_at = data.index(b'"rows": [')
        end_at = data.index(b'"sha256":', start_at)
    position = start_at + int(where * (end_at - start_at))
    if data[position] == new:
        new = (new + 1) % 256
    tampered = data[:position] + bytes([new]) + data[position + 1 :]
    assert not evidence.verify_bytes(tampered).ok


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["csv", "json"]), where=st.floats(0, 1, exclude_max=True), new=st.integers(0, 255))
def test_any_single_changed_byte_anywhere_is_caught(exports, fmt, where, new):
    data = exports[fmt]
    position = int(where * len(data))
    if data[position] == new:
        new = (new + 1) % 256
    assert not evidence.verify_bytes(data[:position] + bytes([new]) + data[position + 1 :]).ok


def test_names_and_quotes_round_trip(world):  # noqa: F811
    alice = world.alice
    alice.name = 'Ålice "the, admin"\nO\'Neil =SUM(A1)'
    alice.save()
    campaign = start(world)
    for fmt in ("csv", "json"):
        assert evidence.verify_bytes(evidence.export(campaign, fmt)).ok


# --- commands --------------------------------------------------------------------------------------------------


def test_verify_review_export_command(decided, tmp_path, capsys):
    good = tmp_path / "evidence.csv"
    call_command("export_review", str(decided.pk), "--format", "csv", "-o", str(good))
    call_command("verify_review_export", str(good))
    assert "intact; 5 snapshot rows" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_bytes(evidence.export_json(decided).replace(b"alice@example.com", b"alicia@example.com"))
    with pytest.raises(SystemExit) as exc:
        call_command("verify_review_export", str(bad))
    assert exc.value.code == 1
    assert "mismatch: snapshot row" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        call_command("verify_review_export", str(tmp_path / "missing.csv"))


def test_start_review_command(world, capsys):  # noqa: F811
    call_command("start_review", "all")
    campaign = ReviewCampaign.objects.get()
    assert campaign.snapshot_rows == 5
    out = capsys.readouterr().out
    assert f"#{campaign.pk}" in out and campaign.snapshot_sha256 in out
    with pytest.raises(SystemExit):
        call_command("start_review", "nope")
    assert "No review template 'nope'" in capsys.readouterr().err


def test_start_review_uses_the_source_cli(world):  # noqa: F811
    from gatehouse.audit.models import AuditEvent

    call_command("start_review", "all")
    event = AuditEvent.objects.filter(object_type__endswith="reviewcampaign").get()
    assert event.source == "cli"
    assert SYSTEM is not None
