import sys
from pathlib import Path

from gatehouse.core import context
from gatehouse.core.context import Source
from gatehouse.core.management.base import GatehouseCommand
from gatehouse.directory.importers import PeopleImportError, import_people


class Command(GatehouseCommand):
    help = (
        "Import people from an HRIS export (.csv or .json), matched by email. All or nothing: any bad row "
        "rejects the file, listing every problem by line and column, and exits 1. People not in the file are "
        "left alone. See docs/people-import.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The export: a .csv or .json file.")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Check the file and count what would change; write nothing.",
        )

    def handle(self, *args, file: Path, dry_run: bool, **options):
        try:
            with context.change_context(source=Source.IMPORT):
                result = import_people(file, dry_run=dry_run, progress=self.progress)
        except PeopleImportError as exc:
            self._warn(exc.warnings)
            for problem in exc.problems:
                self.stderr.write(str(problem))
            count = len(exc.problems)
            self.stderr.write(
                self.style.ERROR(f"{file}: {count} problem{'s' if count != 1 else ''}; nothing was imported.")
            )
            sys.exit(1)
        self._warn(result.warnings)
        summary = f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged"
        if dry_run:
            self.stdout.write(self.style.SUCCESS(f"{file}: dry run, nothing written; would be {summary}."))
        else:
            self.stdout.write(self.style.SUCCESS(f"{file}: {summary}."))

    def _warn(self, warnings: list[str]) -> None:
        for warning in warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
