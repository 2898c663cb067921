"""Audit trail overhead: 10,000 person updates with and without the audit trail, on SQLite and PostgreSQL.

    .venv/bin/python bench/audit_overhead.py [--updates N] [--rounds R]

Each update goes through the real service (directory.services.update_person: permission check, validation,
save, and with the trail on, the hash-chained event). The goal is a ratio under 1.3.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import django_on, run_per_backend

PEOPLE = 1000


def run_updates(people, updates: int, offset: int) -> float:
    from gatehouse.core.permissions import SYSTEM
    from gatehouse.directory.services import update_person

    start = time.perf_counter()
    for i in range(updates):
        person = people[i % len(people)]
        update_person(person, actor=SYSTEM, title=f"Title {offset + i}")
    return time.perf_counter() - start


def bench(backend: str, updates: int, rounds: int) -> None:
    with django_on(backend):
        from gatehouse.audit.models import AuditEvent
        from gatehouse.core import context
        from gatehouse.directory.models import Person

        Person.objects.bulk_create(
            Person(email=f"bench{i}@example.com", name=f"Bench {i}") for i in range(PEOPLE)
        )
        people = list(Person.objects.order_by("pk"))
        with_audit, without_audit = [], []
        for r in range(rounds):
            # Alternate the two so drift on the machine affects both alike.
            with context.change_context(audit_enabled=False):
                without_audit.append(run_updates(people, updates, offset=(2 * r) * updates))
            with context.change_context(source="cli", actor_label="bench"):
                with_audit.append(run_updates(people, updates, offset=(2 * r + 1) * updates))
        events = AuditEvent.objects.count()
        off, on = statistics.median(without_audit), statistics.median(with_audit)
        ratio = on / off
        print(f"[{backend}] {updates} person updates, median of {rounds} rounds")
        print(f"  without audit trail: {off:7.2f} s  ({off / updates * 1e6:6.0f} µs per update)")
        print(f"  with audit trail:    {on:7.2f} s  ({on / updates * 1e6:6.0f} µs per update)")
        print(
            f"  ratio: {ratio:.2f}  (goal < 1.30: {'met' if ratio < 1.3 else 'NOT met'}); events written: {events}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"])
    parser.add_argument("--updates", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if args.backend:
        bench(args.backend, args.updates, args.rounds)
    else:
        run_per_backend(__file__, ["--updates", str(args.updates), "--rounds", str(args.rounds)])


if __name__ == "__main__":
    main()
