import sys
from pathlib import Path
from typing import NoReturn

from gatehouse.core.management.base import GatehouseCommand
from gatehouse.core.permissions import SYSTEM
from gatehouse.endpoints.feeds import PARSERS, ParseError, parse_feed
from gatehouse.endpoints.imports import import_feeds


class Command(GatehouseCommand):
    help = (
        "Import device feeds: each SOURCE is jamf (Jamf Pro /api/v1/computers-inventory JSON), sentinelone "
        "(/web/api/v2.1/agents JSON), crowdstrike (Falcon device details JSON) or drivestrike (CSV; columns in "
        "docs/endpoints.md), followed by its FILE. Several SOURCE FILE pairs are imported together: one "
        "transaction, the changed devices reconciled and checked once. All or nothing: a malformed record in any "
        "file exits 1 naming the file, the record and the field, and nothing is written. Unchanged records are "
        "skipped, so a re-import writes only what changed."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "pairs",
            nargs="+",
            metavar="SOURCE FILE",
            help=f"A feed's source ({', '.join(sorted(PARSERS))}) and its exported file; one pair per source.",
        )

    def fail(self, message: str) -> NoReturn:
        self.stderr.write(self.style.ERROR(f"{message}; nothing was imported."))
        sys.exit(1)

    def handle(self, *args, pairs: list[str], **options):
        if len(pairs) % 2:
            self.fail(
                f"expected SOURCE FILE pairs, got {len(pairs)} argument{'s' if len(pairs) != 1 else ''}"
                f" (the last, {pairs[-1]!r}, has no partner)"
            )
        sources = pairs[0::2]
        files = [Path(name) for name in pairs[1::2]]
        seen: dict[str, int] = {}
        for index, source in enumerate(sources):
            position = 2 * index + 1
            if source not in PARSERS:
                self.fail(
                    f"argument {position}: unknown source {source!r}; choose from {', '.join(sorted(PARSERS))}"
                )
            if source in seen:
                self.fail(
                    f"argument {position}: source {source} is given twice (also argument {seen[source]}); "
                    "give each source once"
                )
            seen[source] = position

        feeds = []
        for source, file in zip(sources, files, strict=True):
            try:
                content = file.read_bytes()
            except OSError as exc:
                self.fail(f"{file}: cannot read ({exc.strerror})")
            try:
                feeds.append((source, parse_feed(source, content), file.name))
            except ParseError as exc:
                self.fail(f"{file}: {exc}")

        labels = iter(sources)  # import_feeds shows each feed's records in turn, in order
        runs = import_feeds(
            feeds,
            actor=SYSTEM,
            progress=lambda items: self.progress(
                items, total=len(items), desc=f"{next(labels, 'feed')} records"
            ),
        )
        several = len(runs) > 1
        for file, run in zip(files, runs, strict=True):
            for warning in run.warnings:
                self.stderr.write(self.style.WARNING(f"warning: {f'{file}: ' if several else ''}{warning}"))
            self.stdout.write(
                self.style.SUCCESS(
                    f"{file}: {run.records} records read; {run.created} new, {run.changed} changed, "
                    f"{run.unchanged} unchanged"
                    + (f", {len(run.warnings)} skipped" if run.warnings else "")
                    + "."
                )
            )
