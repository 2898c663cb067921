"""Evidence exports of access review campaigns (CSV and JSON) and their verification.

What an export holds
--------------------
- the campaign (id, name, the frozen definition, undecided rule, start, due and close times);
- the population snapshot: source, time, row count, SHA-256 (as recorded when the campaign started) and every
  row: the ten canonical columns of gatehouse.access.reviews (CANONICAL_COLUMNS) plus ``row_sha256``;
- per row, the decision: reviewer, decision, reason, the new entitlement of a modify, who decided and when
  (``decided_by`` empty and the reason naming the rule when the campaign's undecided rule decided it);
- every fulfilment task a decision opened (revoke, and grant for a modify): id, kind, state, created, done
  time, who completed it, evidence and the connector's answer.

The export's own SHA-256
------------------------
CSV: the file is comment lines (``# key: value``: format, campaign, snapshot metadata, export time), the header
row, one row per item in grant id order, and a last line ``# export_sha256: <hex>``: the SHA-256 of every byte
before that line. Each task is in the row of the item that opened it (revoke_* and grant_* columns).

JSON: one object, serialised with sorted keys, ``indent=1``, ``ensure_ascii=False``, and a final LF. Its
``export_sha256`` is the SHA-256 of the same serialisation of the object without that key. The verifier also
requires the file to be byte for byte that serialisation, so an edit that keeps the JSON's meaning (a space, a
reordered key) is caught too.

``verify(path)`` recomputes, in order: each row's ``row_sha256`` (naming the first row that differs), the row
count and ``snapshot_sha256`` against the snapshot metadata, and the export's SHA-256.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils import timezone

from gatehouse.access.models import FulfilmentTask, ReviewCampaign, ReviewItem
from gatehouse.access.reviews import (
    CANONICAL_COLUMNS,
    SnapshotHasher,
    canonical_time,
    canonical_values,
    row_sha256,
)

FORMAT = "gatehouse-access-review-evidence/1"
DECISION_COLUMNS = ("reviewer", "decision", "reason", "modify_to", "decided_by", "decided_at")
TASK_FIELDS = ("id", "state", "created", "done_at", "done_by", "evidence", "connector_result")
TASK_COLUMNS = tuple(f"{kind}_task_{f}" for kind in ("revoke", "grant") for f in TASK_FIELDS)
CSV_COLUMNS = (*CANONICAL_COLUMNS, "row_sha256", *DECISION_COLUMNS, *TASK_COLUMNS)
EXPORT_LINE = b"# export_sha256: "
CHUNK = 5000


def _user_label(user) -> str:
    return user.get_username() if user is not None else ""


def campaign_meta(campaign: ReviewCampaign, exported_at) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "campaign_id": campaign.pk,
        "campaign": campaign.name,
        "state": campaign.state,
        "definition": campaign.definition,
        "undecided_rule": campaign.undecided_rule,
        "started_at": canonical_time(campaign.started_at),
        "due_at": canonical_time(campaign.due_at),
        "closed_at": canonical_time(campaign.closed_at),
        "snapshot_source": campaign.snapshot_source,
        "snapshot_taken_at": canonical_time(campaign.snapshot_taken_at),
        "snapshot_rows": campaign.snapshot_rows,
        "snapshot_sha256": campaign.snapshot_sha256,
        "exported_at": canonical_time(exported_at),
    }


def _tasks_by_item(item_ids: list[int]) -> dict[int, dict[str, FulfilmentTask]]:
    tasks: dict[int, dict[str, FulfilmentTask]] = {}
    for task in (
        FulfilmentTask.objects.filter(review_item_id__in=item_ids).select_related("done_by").order_by("pk")
    ):
        tasks.setdefault(task.review_item_id, {})[task.kind] = task
    return tasks


def _task_record(task: FulfilmentTask | None) -> dict[str, Any] | None:
    if task is None:
        return None
    return {
        "id": task.pk,
        "state": task.state,
        "created": canonical_time(task.created),
        "done_at": canonical_time(task.done_at),
        "done_by": _user_label(task.done_by),
        "evidence": task.evidence,
        "connector_result": task.connector_result,
    }


def export_rows(campaign: ReviewCampaign) -> Iterator[dict[str, Any]]:
    """Each item in grant id order: its canonical values, row hash, decision and tasks (chunked queries)."""
    items = (
        ReviewItem.objects.filter(campaign=campaign)
        .select_related("reviewer", "decided_by", "modify_to")
        .order_by("grant_id")
    )
    last = 0
    while True:
        chunk = list(items.filter(grant_id__gt=last)[:CHUNK])
        if not chunk:
            return
        last = chunk[-1].grant_id
        tasks = _tasks_by_item([i.pk for i in chunk])
        for item in chunk:
            values = canonical_values(item)
            mine = tasks.get(item.pk, {})
            yield {
                "item_id": item.pk,
                "values": values,
                "row_sha256": row_sha256(values),
                "decision": {
                    "reviewer": _user_label(item.reviewer),
                    "decision": item.decision,
                    "reason": item.reason,
                    "modify_to": item.modify_to.name if item.modify_to_id else "",
                    "decided_by": _user_label(item.decided_by),
                    "decided_at": canonical_time(item.decided_at),
                },
                "revoke_task": _task_record(mine.get(FulfilmentTask.Kind.REVOKE)),
                "grant_task": _task_record(mine.get(FulfilmentTask.Kind.GRANT)),
            }


# --- CSV -----------------------------------------------------------------------------------------------------


def _csv_cell(value: Any) -> str:
    return "" if value is None else str(value)


def export_csv(campaign: ReviewCampaign, *, now=None) -> bytes:
    meta = campaign_meta(campaign, now or timezone.now())
    out = io.StringIO(newline="")
    for key, value in meta.items():
        text = json.dumps(value, ensure_ascii=False, sort_keys=True) if key == "definition" else value
        out.write(f"# {key}: {' '.join(_csv_cell(text).splitlines())}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in export_rows(campaign):
        cells = [*row["values"], row["row_sha256"], *(row["decision"][c] for c in DECISION_COLUMNS)]
        for kind in ("revoke_task", "grant_task"):
            task = row[kind] or {}
            cells.extend(task.get(f) for f in TASK_FIELDS)
        writer.writerow([_csv_cell(c) for c in cells])
    body = out.getvalue().encode("utf-8")
    return body + EXPORT_LINE + hashlib.sha256(body).hexdigest().encode() + b"\n"


# --- JSON ----------------------------------------------------------------------------------------------------


def _json_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, ensure_ascii=False, sort_keys=True, indent=1) + "\n").encode("utf-8")


def export_json(campaign: ReviewCampaign, *, now=None) -> bytes:
    meta = campaign_meta(campaign, now or timezone.now())
    rows, decisions, tasks = [], [], []
    for row in export_rows(campaign):
        rows.append([*row["values"], row["row_sha256"]])
        decisions.append({"grant_id": row["values"][0], "item_id": row["item_id"], **row["decision"]})
        for kind in ("revoke_task", "grant_task"):
            if row[kind]:
                tasks.append(
                    {"grant_id": row["values"][0], "item_id": row["item_id"], "kind": kind[:-5], **row[kind]}
                )
    document = {
        "format": FORMAT,
        "campaign": {k: v for k, v in meta.items() if not k.startswith("snapshot_") and k != "format"},
        "snapshot": {
            "source": meta["snapshot_source"],
            "taken_at": meta["snapshot_taken_at"],
            "row_count": meta["snapshot_rows"],
            "sha256": meta["snapshot_sha256"],
            "columns": [*CANONICAL_COLUMNS, "row_sha256"],
            "rows": rows,
        },
        "decisions": decisions,
        "tasks": tasks,
    }
    document["export_sha256"] = hashlib.sha256(_json_bytes(document)).hexdigest()
    return _json_bytes(document)


def export(campaign: ReviewCampaign, fmt: str, *, now=None) -> bytes:
    if fmt == "csv":
        return export_csv(campaign, now=now)
    if fmt == "json":
        return export_json(campaign, now=now)
    raise ValueError(f"Unknown format {fmt!r}: csv or json.")


def filename(campaign: ReviewCampaign, fmt: str) -> str:
    return f"access-review-{campaign.pk}-evidence.{fmt}"


# --- verification -------------------------------------------------------------------------------------------


@dataclass
class VerifyResult:
    ok: bool
    rows: int = 0
    problem: str = ""


class Mismatch(Exception):
    pass


def _check_rows(rows: list[list[Any]], where: list[str], expected_count: Any, expected_sha: Any) -> int:
    """Each row's hash, then the count and the snapshot hash over the rows in grant id order."""
    hasher = SnapshotHasher()
    for row, place in zip(rows, where, strict=True):
        if len(row) != len(CANONICAL_COLUMNS) + 1:
            raise Mismatch(f"{place}: {len(row)} columns, expected {len(CANONICAL_COLUMNS) + 1}")
        values, claimed = row[:-1], row[-1]
        if row_sha256(values) != claimed:
            raise Mismatch(f"{place} (grant {values[0]}): row_sha256 does not match the row's content")
        try:
            hasher.add(values)
        except (ValueError, TypeError) as exc:
            raise Mismatch(f"{place}: {exc}") from exc
    if hasher.rows != expected_count:
        raise Mismatch(
            f"snapshot row count: the export holds {hasher.rows} rows, the snapshot says {expected_count}"
        )
    if hasher.hexdigest() != expected_sha:
        raise Mismatch("snapshot_sha256: the rows hash to a different value than the snapshot recorded")
    return hasher.rows


def _csv_values(cells: list[str]) -> list[Any]:
    row: list[Any] = []
    for name, cell in zip((*CANONICAL_COLUMNS, "row_sha256"), cells, strict=False):
        if name in ("grant_id", "system_id"):
            if not cell.isdigit() or not cell.isascii():
                raise ValueError(f"{name} is not a whole number")
            row.append(int(cell))
        elif name in ("granted_at", "last_used_at"):
            row.append(cell or None)
        else:
            row.append(cell)
    return row


def verify_csv(data: bytes) -> VerifyResult:
    cut = data.rfind(b"\n" + EXPORT_LINE)
    if cut < 0 or not data.endswith(b"\n"):
        raise Mismatch("export_sha256: the last line `# export_sha256: <hex>` is missing")
    body, claimed = data[: cut + 1], data[cut + 1 + len(EXPORT_LINE) : -1]
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Mismatch(f"the file is not UTF-8 (byte {exc.start})") from exc
    meta: dict[str, str] = {}
    lines = text.split("\n")
    position = 0
    while position < len(lines) and lines[position].startswith("# "):
        key, _, value = lines[position][2:].partition(": ")
        meta[key] = value
        position += 1
    if meta.get("format") != FORMAT:
        raise Mismatch(f"format: expected {FORMAT}")
    reader = csv.reader(io.StringIO("\n".join(lines[position:]), newline=""), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise Mismatch("header row: missing") from exc
    if tuple(header) != CSV_COLUMNS:
        raise Mismatch("header row: the columns differ from this format's")
    rows, where = [], []
    width = len(CANONICAL_COLUMNS) + 1
    try:
        for cells in reader:
            if not cells:
                continue
            line = position + reader.line_num
            if len(cells) != len(CSV_COLUMNS):
                raise Mismatch(f"line {line}: {len(cells)} cells, expected {len(CSV_COLUMNS)}")
            try:
                rows.append(_csv_values(cells[:width]))
            except ValueError as exc:
                raise Mismatch(f"line {line}: {exc}") from exc
            where.append(f"line {line}")
    except csv.Error as exc:
        raise Mismatch(f"line {position + reader.line_num}: not valid CSV ({exc})") from exc
    try:
        expected_rows = int(meta.get("snapshot_rows", ""))
    except ValueError as exc:
        raise Mismatch("snapshot_rows: not a number") from exc
    count = _check_rows(rows, where, expected_rows, meta.get("snapshot_sha256"))
    if hashlib.sha256(body).hexdigest().encode() != claimed:
        raise Mismatch("export_sha256: the file's content does not match its SHA-256")
    return VerifyResult(True, count)


def verify_json(data: bytes) -> VerifyResult:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Mismatch(f"the file is not valid JSON ({exc})") from exc
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise Mismatch(f"format: expected {FORMAT}")
    snapshot = document.get("snapshot")
    if not isinstance(snapshot, dict) or not isinstance(snapshot.get("rows"), list):
        raise Mismatch("snapshot: missing or not an object with rows")
    rows = snapshot["rows"]
    if any(not isinstance(r, list) for r in rows):
        raise Mismatch("snapshot.rows: every row must be a list")
    where = [f"snapshot row {n + 1}" for n in range(len(rows))]
    count = _check_rows(rows, where, snapshot.get("row_count"), snapshot.get("sha256"))
    claimed = document.pop("export_sha256", None)
    if hashlib.sha256(_json_bytes(document)).hexdigest() != claimed:
        raise Mismatch("export_sha256: the export's content does not match its SHA-256")
    document["export_sha256"] = claimed
    if _json_bytes(document) != data:
        raise Mismatch("export_sha256: the file is not in the export's canonical form (bytes were changed)")
    return VerifyResult(True, count)


def verify_bytes(data: bytes) -> VerifyResult:
    """Recompute an export's hashes. Never raises for bad content: the result names the first mismatch."""
    try:
        if data.lstrip()[:1] == b"{":
            return verify_json(data)
        return verify_csv(data)
    except Mismatch as exc:
        return VerifyResult(False, problem=str(exc))
    except (ValueError, TypeError, KeyError, RecursionError) as exc:
        return VerifyResult(False, problem=f"the file cannot be read as an evidence export ({exc})")


def verify(path: Path) -> VerifyResult:
    return verify_bytes(Path(path).read_bytes())
