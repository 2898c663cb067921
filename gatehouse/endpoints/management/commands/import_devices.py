import sys
from pathlib import Path

from gatehouse.core.management.base import GatehouseCommand
from gatehouse.core.permissions import SYSTEM
from gatehouse.endpoints.feeds import PARSERS, ParseError, parse_feed
from gatehouse.endpoints.imports import import_feed


class Command(GatehouseCommand):
    help = (
        "Import a device feed: SOURCE is jamf (Jamf Pro /api/v1/computers-inventory JSON), sentinelone "
        "(/web/api/v2.1/agents JSON), crowdstrike (Falcon device details JSON) or drivestrike (CSV; columns in "
        "docs/endpoints.md). All or nothing: a malformed record exits 1 naming the record and the field, and "
        "nothing is written. Unchanged records are skipped, so a re-import writes only what changed."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", choices=sorted(PARSERS), help="The feed's source.")
        parser.add_argument("file", type=Path, help="The exported file.")

    def handle(self, *args, source: str, file: Path, **options):
        try:
            content = file.read_bytes()
        except OSError as exc:
            self.stderr.write(
                self.style.ERROR(f"{file}: cannot read ({exc.strerror}); nothing was imported.")
            )
            sys.exit(1)
        try:
            feed = parse_feed(source, content)
        except ParseError as exc:
            self.stderr.write(self.style.ERROR(f"{file}: {exc}; nothing was imported."))
            sys.exit(1)
        run = import_feed(
            source,
            feed,
            actor=SYSTEM,
            origin=file.name,
            progress=lambda items: self.progress(items, total=len(items), desc=f"{source} records"),
        )
        for warning in run.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"{file}: {run.records} records read; {run.created} new, {run.changed} changed, "
                f"{run.unchanged} unchanged"
                + (f", {len(run.warnings)} skipped" if run.warnings else "")
                + "."
            )
        )
