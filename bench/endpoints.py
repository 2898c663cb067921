"""Endpoints at scale: 100,000 devices in three feed files and 100,000 people, on SQLite and PostgreSQL (issue 5).

    .venv/bin/python bench/endpoints.py [--devices N] [--people P] [--seed S] [--separately] [--profile FILE]

1. Writes the feeds with the shared writers (`gatehouse.endpoints.feeds.writers`), in a separate process so that
   their memory is not counted: a Jamf Pro JSON (the Macs), a SentinelOne JSON (Macs and Linux machines, plus a
   few cloud servers without a serial and a few duplicated agents) and a DriveStrike CSV (the Linux machines and
   a quarter of the Macs, some serials spelled with dashes and in lower case). Owners are given by email (most),
   by username only (`ACME\\handle`), or not at all (the hostname names them, or a lab machine names nobody);
   some devices are stale or inactive, run old OS versions of the shipped catalog, have encryption off, or an
   infected or out-of-date agent.
2. Bulk-creates the P people (email, handle, department, manager; no audit events: set-up, not measured).
3. Timed, the **total**: read + `feeds.parse_feed` of the three files, then `imports.import_feeds` of the three
   as the system actor (as `gatehouse import_devices jamf F sentinelone F drivestrike F` and the hourly sync do:
   upsert, then reconcile and check the changed devices once, audit events), then `kpis.take_snapshot()`. With
   --separately, one `import_feed` per file instead (each reconciling and checking its devices). Remediation is
   *not* in it: the import queues one `remediate_later` job after its commit (Huey in SQLite under this bench,
   immediate mode off), and that enqueue is all that is timed; the desk requests the worker would file are not.
4. Timed, the **re-import** of the three unchanged files (read + parse + import), which skips unchanged
   records by their content hash: it must be faster than the first import.
5. Timed, the **floor**: the same files parsed by the same parsers, and the same rows (one per device, one per
   source record, with the raw JSON text the import stores) written into two bare tables (primary key only, no
   other index, no logic) in one transaction per file, the plain fastest way on the backend: executemany on
   SQLite, COPY on PostgreSQL. Like the import, it runs with the cyclic garbage collector paused
   (`core.bulk.cycle_collection_paused`), so the ratio compares like with like.
6. Prints the figures and the goals: total < 60 s, peak memory < 1 GiB, total / floor < 3, re-import faster than
   the first import. Peak memory is the process's peak resident set (getrusage ru_maxrss) read after the import
   and re-import phases: Django, the people set-up and the imports; the database server's memory is not in it.

With --profile FILE, the total phase runs under cProfile and the stats are written to FILE.<backend>.

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import ROOT, django_on, run_per_backend

GOAL_TOTAL_S = 60
GOAL_PEAK_MIB = 1024
GOAL_RATIO = 3
FILES = (("jamf", "jamf.json"), ("sentinelone", "sentinelone.json"), ("drivestrike", "drivestrike.csv"))

FIRST = ["ada", "grace", "alan", "linus", "barbara", "ken", "margaret", "dennis", "frances", "edsger", "radia",
         "john", "katherine", "tim", "hedy", "donald", "annie", "guido", "sophie", "bjarne"]  # fmt: skip
LAST = ["lovelace", "hopper", "turing", "torvalds", "liskov", "thompson", "hamilton", "ritchie", "allen",
        "dijkstra", "perlman", "mccarthy", "johnson", "berners", "lamarr", "knuth", "easley", "rossum", "wilson",
        "stroustrup"]  # fmt: skip
DEPARTMENTS = ["Engineering", "Sales", "Marketing", "Support", "Finance", "People", "Legal", "Security",
               "Product", "Design", "Data", "Operations"]  # fmt: skip
MANAGERS = 2000

MAC_VERSIONS = [("26.0.1", 30), ("15.7.1", 34), ("15.7", 5), ("15.6.1", 4), ("14.8", 13), ("14.7.8", 4),
                ("14.6.1", 2), ("13.7.8", 6), ("13.6.1", 2)]  # fmt: skip
LINUX_VERSIONS = [("24.04.3", 55), ("22.04.5", 30), ("24.04.2", 8), ("22.04.4", 5), ("22.04.3", 2)]
MAC_MODELS = ["MacBook Pro (14-inch, M3 Pro, 2023)", "MacBook Pro (16-inch, M4 Max, 2024)",
              "MacBook Air (13-inch, M2, 2022)", "MacBook Air (15-inch, M3, 2024)", "Mac mini (M4, 2024)"]  # fmt: skip
LINUX_MODELS = ["ThinkPad X1 Carbon Gen 12", "ThinkPad T14s Gen 5", "Dell XPS 13 9340", "Framework Laptop 13"]


def person(i: int) -> tuple[str, str, str]:
    """(name, email, handle) of person i: a pure function of i, so the generator and the set-up agree."""
    first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
    return f"{first.title()} {last.title()} {i}", f"{first}.{last}{i}@acme.example", f"{first[0]}{last}{i}"


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


# ------------------------------------------------------------------------------------------------ the feed files


def generate(directory: Path, devices: int, people: int, seed: int) -> None:
    """Write the three feed files (run in its own process: the dicts and strings do not count in the bench)."""
    from django.utils import timezone

    from gatehouse.endpoints.feeds import writers
    from gatehouse.endpoints.feeds.writers import DeviceSpec
    from gatehouse.endpoints.models import Platform

    catalog = {
        row["version"] for row in csv.DictReader((ROOT / "gatehouse/endpoints/data/os_releases.csv").open())
    }
    for version, _ in MAC_VERSIONS + LINUX_VERSIONS:
        assert version in catalog, f"{version} is not in the shipped OS catalog"
    rng = random.Random(seed)
    now = timezone.now()

    def pick(weighted):
        return rng.choices([v for v, _ in weighted], [w for _, w in weighted])[0]

    def ago(low_hours: float, high_hours: float) -> datetime.datetime:
        return now - datetime.timedelta(hours=rng.uniform(low_hours, high_hours))

    computers, agents, rows = [], [], []
    for i in range(devices):
        linux = rng.random() < 0.12
        owner = i % people
        _, email, handle = person(owner)
        local = email.split("@")[0]
        roll = rng.random()
        mode = "email" if roll < 0.80 else "username" if roll < 0.92 else "hostname" if roll < 0.97 else "lab"
        if mode == "lab":
            hostname = f"lab-{'ubuntu' if linux else 'imac'}-{i:05d}"
        else:
            hostname = f"{local.replace('.', '-')}-{'linux' if linux else 'mbp'}"
        spec = DeviceSpec(
            serial=f"PF{i * 7 + 3:08X}" if linux else f"C02{i * 13 + 5:07X}Q6L",
            hostname=hostname,
            platform=Platform.LINUX if linux else Platform.MACOS,
            os_version=pick(LINUX_VERSIONS if linux else MAC_VERSIONS),
            owner_email=email if mode == "email" else "",
            owner_username=handle if mode == "username" else "",
            model=rng.choice(LINUX_MODELS if linux else MAC_MODELS),
            disk_encrypted=rng.choices([True, False, None], [985, 10, 5])[0],
        )
        freshness = rng.random()
        if freshness < 0.02:  # inactive: no feed has seen it for over 30 days
            seen = [ago(24 * 31, 24 * 120) for _ in range(3)]
        elif freshness < 0.08:  # one agent stale (8 to 29 days), the others fresh
            seen = [ago(0, 48) for _ in range(3)]
            seen[rng.randrange(3)] = ago(24 * 8, 24 * 29)
        else:
            seen = [ago(0, 48) for _ in range(3)]
        s1_spec = replace(spec, owner_username=f"ACME\\{handle}") if mode == "username" else spec
        in_jamf = not linux and rng.random() < 0.99
        in_s1 = rng.random() < (0.99 if linux else 0.97) or (not linux and not in_jamf)
        in_ds = rng.random() < (0.95 if linux else 0.25)
        if in_jamf:
            computers.append(writers.jamf_computer(spec, index=i + 1, seen=seen[0]))
        if in_s1:
            health = rng.random()
            agents.append(
                writers.sentinelone_agent(
                    s1_spec,
                    index=i + 1,
                    seen=seen[1],
                    infected=health < 0.003,
                    decommissioned=0.003 <= health < 0.005,
                    up_to_date=not (0.005 <= health < 0.025),
                    agent_version="23.4.2.216" if 0.005 <= health < 0.025 else "24.1.4.257",
                )
            )
        if in_ds:
            ds_spec = spec
            if rng.random() < 0.3:  # DriveStrike spells some serials its own way: one device all the same
                ds_spec = replace(spec, serial=f"{spec.serial[:4]}-{spec.serial[4:]}".lower())
            rows.append(writers.drivestrike_row(ds_spec, index=i + 1, seen=seen[2]))
    for k in range(min(50, devices // 1000 + 1)):  # cloud servers without a serial: skipped with a warning
        server = DeviceSpec(
            serial="", hostname=f"build-runner-{k}", platform=Platform.LINUX, os_version="24.04.3"
        )
        agents.append(writers.sentinelone_agent(server, index=devices + k + 1, seen=ago(0, 24)))
    for agent in agents[: min(20, len(agents) // 1000)]:  # a re-enrolled agent: an older duplicate
        agents.append(
            {**agent, "id": agent["id"] + "0", "lastActiveDate": writers._stamp(ago(24 * 40, 24 * 50))}
        )
    rng.shuffle(agents)
    (directory / "jamf.json").write_text(writers.jamf_file(computers))
    (directory / "sentinelone.json").write_text(writers.sentinelone_file(agents))
    (directory / "drivestrike.csv").write_text(writers.drivestrike_file(rows))


def generate_in_child(directory: Path, devices: int, people: int, seed: int) -> None:
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, __file__, "--generate", str(directory), "--devices", str(devices), "--people",
         str(people), "--seed", str(seed)],
        check=True,
        cwd=ROOT,
    )  # fmt: skip
    sizes = ", ".join(f"{name} {(directory / name).stat().st_size / 2**20:.0f} MiB" for _, name in FILES)
    print(f"feeds written in {time.perf_counter() - start:.1f} s (separate process): {sizes}")


def generate_main(directory: Path, devices: int, people: int, seed: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gatehouse.settings")
    os.environ["GATEHOUSE_DATA_DIR"] = str(directory)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    generate(directory, devices, people, seed)


# ------------------------------------------------------------------------------------------------ set-up


def create_people(count: int) -> None:
    from django.db import transaction

    from gatehouse.directory.models import Person

    def build(i: int, manager_id):
        name, email, handle = person(i)
        return Person(
            name=name,
            email=email,
            handle=handle,
            department=DEPARTMENTS[i % len(DEPARTMENTS)],
            manager_id=manager_id,
        )

    with transaction.atomic():
        Person.objects.bulk_create([build(i, None) for i in range(min(MANAGERS, count))], batch_size=2000)
        managers = list(Person.objects.order_by("pk").values_list("pk", flat=True))
        for start in range(MANAGERS, count, 5000):
            Person.objects.bulk_create(
                [build(i, managers[i % MANAGERS]) for i in range(start, min(start + 5000, count))],
                batch_size=2000,
            )


# ------------------------------------------------------------------------------------------------ the floor

DEVICE_COLUMNS = ("id", "serial", "hostname", "platform", "os_version")
RECORD_COLUMNS = ("id", "device_id", "source", "external_id", "serial", "hostname", "owner_email", "owner_username",
                  "platform", "os_version", "disk_encrypted", "infected", "decommissioned", "agent_up_to_date",
                  "agent_version", "last_seen_at", "imported_at", "content_hash", "raw")  # fmt: skip


def create_floor_tables(connection) -> None:
    big = "bigint" if connection.vendor == "postgresql" else "integer"
    stamp = "timestamp with time zone" if connection.vendor == "postgresql" else "datetime"
    raw = "jsonb" if connection.vendor == "postgresql" else "text"
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TABLE bench_floor_device (id {big} PRIMARY KEY, serial varchar(100) NOT NULL, "
            "hostname varchar(255) NOT NULL, platform varchar(10) NOT NULL, os_version varchar(50) NOT NULL)"
        )
        cursor.execute(
            f"CREATE TABLE bench_floor_record (id {big} PRIMARY KEY, device_id {big} NOT NULL, "
            "source varchar(15) NOT NULL, external_id varchar(200) NOT NULL, serial varchar(100) NOT NULL, "
            "hostname varchar(255) NOT NULL, owner_email varchar(254) NOT NULL, "
            "owner_username varchar(150) NOT NULL, platform varchar(10) NOT NULL, os_version varchar(50) NOT NULL, "
            "disk_encrypted boolean, infected boolean, decommissioned boolean, agent_up_to_date boolean, "
            f"agent_version varchar(50) NOT NULL, last_seen_at {stamp}, imported_at {stamp} NOT NULL, "
            f"content_hash varchar(64) NOT NULL, raw {raw} NOT NULL)"
        )


def floor_rows(feed, device_ids: dict[str, int], first_record_id: int, now):
    """The device rows (serials not seen before) and the record rows of one parsed feed, as plain tuples."""

    from gatehouse.endpoints.reconcile import normalize_serial

    devices, records = [], []
    for n, r in enumerate(feed.records):
        serial = normalize_serial(r.serial)
        device_id = device_ids.get(serial)
        if device_id is None:
            device_id = device_ids[serial] = len(device_ids) + 1
            devices.append((device_id, serial, r.hostname, r.platform, r.os_version))
        records.append(
            (first_record_id + n, device_id, r.source, r.external_id, serial, r.hostname, r.owner_email,
             r.owner_username, r.platform, r.os_version, r.disk_encrypted, r.infected, r.decommissioned,
             r.agent_up_to_date, r.agent_version, r.last_seen_at, now, r.content_hash, r.raw_json)
        )  # fmt: skip
    return devices, records


def write_floor(connection, devices: list[tuple], records: list[tuple]) -> None:
    from django.db import transaction

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                for table, columns, rows in (
                    ("bench_floor_device", DEVICE_COLUMNS, devices),
                    ("bench_floor_record", RECORD_COLUMNS, records),
                ):
                    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
        else:
            cursor = connection.connection.cursor()  # the sqlite3 cursor itself, inside Django's transaction
            cursor.executemany("INSERT INTO bench_floor_device VALUES (?, ?, ?, ?, ?)", devices)
            stamp = {15, 16}  # datetimes as SQLite text, as Django writes them (UTC, no offset)
            cursor.executemany(
                f"INSERT INTO bench_floor_record VALUES ({', '.join('?' * len(RECORD_COLUMNS))})",
                (
                    tuple(
                        v.replace(tzinfo=None).isoformat(" ") if i in stamp and v is not None else v
                        for i, v in enumerate(row)
                    )
                    for row in records
                ),
            )


# ------------------------------------------------------------------------------------------------ the bench


def import_files(directory: Path, label: str, *, separately: bool = False) -> tuple[float, list[str]]:
    """Read, parse and import the three files (together, as `gatehouse import_devices` with three pairs and the
    hourly sync do; or one import per file); returns the seconds and a line per file."""
    from gatehouse.core.permissions import SYSTEM
    from gatehouse.endpoints.feeds import parse_feed
    from gatehouse.endpoints.imports import import_feed, import_feeds

    start = time.perf_counter()
    lines = []
    if separately:
        for source, name in FILES:
            begin = time.perf_counter()
            feed = parse_feed(source, (directory / name).read_bytes())
            parsed = time.perf_counter()
            run = import_feed(source, feed, actor=SYSTEM, origin=f"{label}/{name}")
            done = time.perf_counter()
            lines.append(
                f"    {source:<12} {done - begin:6.1f} s (read + parse {parsed - begin:5.1f} s, import_feed "
                f"{done - parsed:5.1f} s): {run.records:,} records, {run.created:,} new, {run.changed:,} changed, "
                f"{run.unchanged:,} unchanged, {len(run.warnings)} skipped or dropped"
            )
            del feed, run
        return time.perf_counter() - start, lines
    feeds = []
    for source, name in FILES:
        feeds.append((source, parse_feed(source, (directory / name).read_bytes()), f"{label}/{name}"))
    parsed = time.perf_counter()
    runs = import_feeds(feeds, actor=SYSTEM)
    done = time.perf_counter()
    del feeds
    lines.append(
        f"    read + parse {parsed - start:5.1f} s, import_feeds (upsert, reconcile, check, audit) "
        f"{done - parsed:5.1f} s"
    )
    for run in runs:
        lines.append(
            f"    {run.source:<12} {run.records:,} records, {run.created:,} new, {run.changed:,} changed, "
            f"{run.unchanged:,} unchanged, {len(run.warnings)} skipped or dropped"
        )
    return done - start, lines


def bench(backend: str, directory: Path, people: int, profile: str | None, separately: bool) -> None:
    os.environ["GATEHOUSE_EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    os.environ["GATEHOUSE_HUEY_IMMEDIATE"] = "0"  # remediation is queued for the worker, not run here
    os.environ.pop("REDIS_URL", None)
    with django_on(backend) as connection:
        from django.conf import settings
        from django.utils import timezone
        from huey.contrib.djhuey import HUEY

        from gatehouse.core import context
        from gatehouse.core.bulk import cycle_collection_paused
        from gatehouse.directory.models import Person
        from gatehouse.endpoints import kpis
        from gatehouse.endpoints.feeds import parse_feed
        from gatehouse.endpoints.models import CheckResult, Device, SourceRecord

        assert not settings.HUEY["immediate"]
        start = time.perf_counter()
        create_people(people)
        if backend == "postgres":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        print(
            f"[{backend}] {Person.objects.count():,} people bulk-created in {time.perf_counter() - start:.1f} s "
            "(set-up, not timed; no audit events)"
        )

        with context.change_context(
            source=context.Source.CLI,
            request_id=context.new_request_id(),
            actor=None,
            actor_label="cli:bench",
        ):
            profiler = None
            if profile:
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            first, lines = import_files(directory, "first", separately=separately)
            start = time.perf_counter()
            slices = kpis.take_snapshot()
            snapshot = time.perf_counter() - start
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(f"{profile}.{backend}")
            total = first + snapshot
            queued = HUEY.pending_count()
            counts = (Device.objects.count(), SourceRecord.objects.count(), CheckResult.objects.count())
            passing = Device.objects.filter(passing=True).count()
            active = Device.objects.filter(is_active=True).count()
            owned = Device.objects.filter(owner__isnull=False).count()
            if backend == "postgres":
                with connection.cursor() as cursor:
                    cursor.execute("ANALYZE")

            again, again_lines = import_files(directory, "again", separately=separately)
            peak = peak_mib()

        print(f"  total (timed): {total:.1f} s")
        for line in lines:
            print(line)
        print(f"    {'snapshot':<12} {snapshot:6.1f} s: kpis.take_snapshot(), {slices} slices")
        print(
            f"    -> {counts[0]:,} devices ({active:,} active, {owned:,} with an owner, {passing:,} passing), "
            f"{counts[1]:,} source records, {counts[2]:,} check results"
        )
        print(
            f"    remediation: {queued} remediate_later jobs queued in Huey (immediate mode off) and not run: "
            "the desk requests for failing devices are not in the total"
        )
        print(
            f"  re-import of the unchanged files: {again:.1f} s ({again / first:.2f} of the first import's {first:.1f} s)"
        )
        for line in again_lines:
            print(line)
        print(
            f"  peak memory: {peak:,.0f} MiB (ru_maxrss of the bench process after set-up, import and re-import)"
        )

        now = timezone.now()
        create_floor_tables(connection)
        start = time.perf_counter()
        device_ids: dict[str, int] = {}
        parse_s = write_s = 0.0
        rows_written = 0
        with (
            cycle_collection_paused()
        ):  # as the import runs: the floor is not slowed by what the import avoids
            for source, name in FILES:
                t0 = time.perf_counter()
                feed = parse_feed(source, (directory / name).read_bytes())
                devices, records = floor_rows(feed, device_ids, rows_written + 1, now)
                del feed
                t1 = time.perf_counter()
                write_floor(connection, devices, records)
                t2 = time.perf_counter()
                parse_s, write_s = parse_s + t1 - t0, write_s + t2 - t1
                rows_written += len(records)
                del devices, records
            floor = time.perf_counter() - start
        how = "COPY" if backend == "postgres" else "executemany"
        print(
            f"  floor: {floor:.1f} s (read + parse {parse_s:.1f} s, {how} of {len(device_ids):,} device rows and "
            f"{rows_written:,} record rows into bare tables {write_s:.1f} s)"
        )
        ratio = total / floor
        print(f"  ratio total / floor: {ratio:.2f}")
        print("  goals:")
        print(f"    total < {GOAL_TOTAL_S} s: {verdict(total < GOAL_TOTAL_S)} ({total:.1f} s)")
        print(f"    peak memory < 1 GiB: {verdict(peak < GOAL_PEAK_MIB)} ({peak:,.0f} MiB)")
        print(f"    total / floor < {GOAL_RATIO}: {verdict(ratio < GOAL_RATIO)} ({ratio:.2f})")
        print(
            f"    re-import faster than the first import: {verdict(again < first)} ({again:.1f} s vs {first:.1f} s)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--profile", help="write cProfile stats of the total phase to PROFILE.<backend>")
    parser.add_argument(
        "--separately", action="store_true", help="one import per file instead of the three files together"
    )
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)  # feeds already written (by the parent)
    parser.add_argument("--generate", type=Path, help=argparse.SUPPRESS)  # the child that writes them
    args = parser.parse_args()
    if args.generate:
        generate_main(args.generate, args.devices, args.people, args.seed)
        return
    directory = args.data or Path(tempfile.mkdtemp(prefix="gatehouse-bench-feeds-"))
    try:
        if not args.data:
            generate_in_child(directory, args.devices, args.people, args.seed)
        if args.backend:
            bench(args.backend, directory, args.people, args.profile, args.separately)
        else:
            rest = ["--devices", str(args.devices), "--people", str(args.people), "--data", str(directory)]
            rest += ["--profile", args.profile] if args.profile else []
            run_per_backend(__file__, rest + (["--separately"] if args.separately else []))
    finally:
        if not args.data:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()
