"""Access lifecycle at scale: 10,000 people, 200 systems, about 300,000 grants, on SQLite and PostgreSQL.

    .venv/bin/python bench/access.py [--people N] [--systems S] [--grants-each G] [--samples K]

1. Bulk-creates the people (500 managers), the systems (each with a business owner who has a sign-in),
   5 entitlements per system (one in ten admin-level) and G grants per person (default 30: ~300,000), plus one
   person holding 300 grants. No audit events for these rows (set-up, not the work measured).
2. Review snapshot: reviews.start_campaign over every grant (one template, scope all, system owner reviews,
   fallback reviewer): the frozen snapshot, its SHA-256 and reviewer assignment. Goal under 30 s.
3. Offboarding: directory.services.update_person marks the 300-grant person terminated; part A's leaver path
   (access.lifecycle.on_person_changed) opens a revoke task per grant. Goal under 1 s.
4. The reviewer page (/access/reviews/<id>/items/?reviewer=me, a page of 50 of one owner's ~1,500 items) and
   the API list of the same, median and p95 over K requests with Django's test client. Goal median < 200 ms.

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import datetime
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import django_on, run_per_backend
from desk import percentile, timed_gets

GOAL_SNAPSHOT_S = 30
GOAL_OFFBOARD_S = 1
GOAL_PAGE_MS = 200


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def report(name: str, times: list[float]) -> None:
    import statistics

    median, p95 = statistics.median(times), percentile(times, 95)
    print(
        f"  {name}: median {median:6.1f} ms, p95 {p95:6.1f} ms over {len(times)} requests "
        f"(goal median < {GOAL_PAGE_MS} ms: {verdict(median < GOAL_PAGE_MS)})"
    )


def bench(backend: str, people_count: int, system_count: int, grants_each: int, samples: int) -> None:
    os.environ["GATEHOUSE_EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    with django_on(backend) as connection:
        from django.db import transaction
        from django.test import Client
        from django.utils import timezone

        from gatehouse.access import reviews
        from gatehouse.access.models import Entitlement, FulfilmentTask, Grant, ReviewTemplate
        from gatehouse.catalog.models import ContactRole, System, SystemContact
        from gatehouse.core.permissions import SYSTEM
        from gatehouse.directory import services as directory
        from gatehouse.directory.models import Person
        from gatehouse.users.models import User
        from gatehouse.users.services import create_api_token

        rng = random.Random(4)
        now = timezone.now()
        start = time.perf_counter()
        with transaction.atomic():
            Person.objects.bulk_create(
                Person(email=f"p{i}@bench.example", name=f"Person {i}", department=f"Dept {i % 20}")
                for i in range(people_count)
            )
            ids = list(Person.objects.order_by("pk").values_list("pk", flat=True))
            managers = ids[:500]
            rows = [
                Person(pk=pk, manager_id=managers[n % 500] if n >= 500 else None) for n, pk in enumerate(ids)
            ]
            Person.objects.bulk_update(rows, ["manager"], batch_size=2000)
            System.objects.bulk_create(
                System(slug=f"sys-{s}", name=f"System {s}", tier=1 + s % 4, effective_tier=1 + s % 4)
                for s in range(system_count)
            )
            systems = list(System.objects.order_by("pk"))
            SystemContact.objects.bulk_create(
                SystemContact(system=system, role=ContactRole.BUSINESS_OWNER, person_id=managers[n % 500])
                for n, system in enumerate(systems)
            )
            User.objects.bulk_create(
                User(username=f"u{pk}", email=f"p{n}@bench.example", person_id=pk)
                for n, pk in enumerate(managers)
            )
            Entitlement.objects.bulk_create(
                Entitlement(
                    system=system,
                    slug=f"e{k}",
                    name=f"{system.name} role {k}",
                    privilege="admin" if (n * 5 + k) % 10 == 0 else "standard",
                )
                for n, system in enumerate(systems)
                for k in range(5)
            )
            entitlements = list(Entitlement.objects.order_by("pk").values_list("pk", flat=True))
            batch = []
            for pk in ids[:-1]:
                for ent in rng.sample(entitlements, grants_each):
                    batch.append(
                        Grant(
                            person_id=pk,
                            entitlement_id=ent,
                            source="import",
                            started_at=now - datetime.timedelta(days=rng.randint(1, 900)),
                            last_used_at=now - datetime.timedelta(days=rng.randint(0, 90))
                            if rng.random() < 0.5
                            else None,
                        )
                    )
                    if len(batch) >= 5000:
                        Grant.objects.bulk_create(batch)
                        batch = []
            leaver_id = ids[-1]
            batch.extend(
                Grant(person_id=leaver_id, entitlement_id=ent, source="import", started_at=now)
                for ent in rng.sample(entitlements, 300)
            )
            Grant.objects.bulk_create(batch)
        total = Grant.objects.count()
        print(
            f"[{backend}] {people_count:,} people, {len(systems)} systems, {len(entitlements):,} entitlements, "
            f"{total:,} grants bulk-created in {time.perf_counter() - start:.1f} s"
        )
        if backend == "postgres":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

        fallback = User.objects.create(username="fallback", email="fallback@bench.example")
        template = ReviewTemplate.objects.create(
            slug="bench-all",
            name="Bench: all grants",
            scope="all",
            reviewer="system_owner",
            fallback_reviewer=fallback,
        )
        start = time.perf_counter()
        campaign = reviews.start_campaign(template, actor=SYSTEM)
        elapsed = time.perf_counter() - start
        unassigned = campaign.items.filter(reviewer__isnull=True).count()
        print(
            f"  review snapshot + reviewer assignment: {elapsed:.1f} s for {campaign.snapshot_rows:,} items "
            f"({unassigned} unassigned; goal < {GOAL_SNAPSHOT_S} s: {verdict(elapsed < GOAL_SNAPSHOT_S)})"
        )
        if backend == "postgres":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")

        leaver = Person.objects.get(pk=leaver_id)
        try:
            from gatehouse.access import lifecycle  # noqa: F401  (part A)
        except ImportError:
            print("  offboarding: part A's leaver path (gatehouse.access.lifecycle) is absent: not measured")
        else:
            start = time.perf_counter()
            directory.update_person(
                leaver, actor=SYSTEM, status="terminated", end_date=now.date() - datetime.timedelta(days=1)
            )
            elapsed = time.perf_counter() - start
            tasks = FulfilmentTask.objects.filter(person_id=leaver_id, kind="revoke").count()
            print(
                f"  offboarding one person with 300 grants: {elapsed:.2f} s, {tasks} revoke tasks "
                f"(goal < {GOAL_OFFBOARD_S} s: {verdict(elapsed < GOAL_OFFBOARD_S)})"
            )

        owner = User.objects.get(person_id=managers[0])
        mine = campaign.items.filter(reviewer=owner).count()
        client = Client()
        client.force_login(owner)
        url = f"/access/reviews/{campaign.pk}/items/?reviewer=me"
        report(f"reviewer page {url} ({mine:,} items, page of 50)", timed_gets(client, url, samples))
        report(
            "reviewer page, undecided admin-level filter",
            timed_gets(client, url + "&decision=pending&privilege=admin", samples),
        )
        _, raw = create_api_token(actor=SYSTEM, user=owner, name="bench", read_only=True)
        api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}")
        report(
            "API /api/v1/access/reviews/items?limit=50",
            timed_gets(api, "/api/v1/access/reviews/items?limit=50", samples),
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=["sqlite", "postgres"])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--systems", type=int, default=200)
    parser.add_argument("--grants-each", type=int, default=30)
    parser.add_argument("--samples", type=int, default=30)
    args = parser.parse_args()
    rest = [
        "--people",
        str(args.people),
        "--systems",
        str(args.systems),
        "--grants-each",
        str(args.grants_each),
    ]
    rest += ["--samples", str(args.samples)]
    if args.backend:
        bench(args.backend, args.people, args.systems, args.grants_each, args.samples)
    else:
        run_per_backend(__file__, rest)


if __name__ == "__main__":
    main()
