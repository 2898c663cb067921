import sys
from pathlib import Path

from gatehouse.catalog.importers import CatalogImportError, ImportResult, LinkCounts, import_catalog
from gatehouse.catalog.techstack import KIND_NAMES
from gatehouse.core import context
from gatehouse.core.context import Source
from gatehouse.core.management.base import GatehouseCommand

SHOWN_PROBLEMS = 10  # entries with problems listed without --verbose


class Command(GatehouseCommand):
    help = (
        "Import systems from a tech stack YAML file, matched by slug (from the title). A file whose shape is "
        "broken is rejected whole, listing every problem by entry, and the command exits 1. Values that cannot "
        "be mapped are kept as text and reported per entry. See docs/catalog-import.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The tech stack file (YAML).")
        parser.add_argument("--dry-run", action="store_true", help="Plan and report; write nothing.")
        parser.add_argument(
            "--verbose", action="store_true", help="List every entry with problems, not only the first ones."
        )

    def handle(self, *args, file: Path, dry_run: bool, verbose: bool, **options):
        try:
            with context.change_context(source=Source.IMPORT):
                result = import_catalog(file, dry_run=dry_run, progress=self.progress)
        except CatalogImportError as exc:
            for problem in exc.problems:
                self.stderr.write(problem)
            count = len(exc.problems)
            self.stderr.write(
                self.style.ERROR(f"{file}: {count} problem{'s' if count != 1 else ''}; nothing was imported.")
            )
            sys.exit(1)
        self._summary(file, result, verbose)

    def _summary(self, file: Path, result: ImportResult, verbose: bool) -> None:
        counts = f"{result.created} created, {result.updated} updated, {result.unchanged} unchanged"
        if result.dry_run:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{file}: dry run, nothing written; {result.total} systems would be: {counts}."
                )
            )
        else:
            self.stdout.write(self.style.SUCCESS(f"{file}: {result.total} systems: {counts}."))
        self.stdout.write(f"Owners: {_links(result.owners)}.")
        self.stdout.write(f"Provisioners: {_links(result.provisioners)}.")
        unmapped = ", ".join(f"{name} {result.unmapped[kind]}" for kind, name in KIND_NAMES.items())
        self.stdout.write(f"Not mapped (kept as text): {unmapped}.")
        if not result.problems:
            return
        self.stdout.write(f"Entries with problems: {len(result.problems)}")
        shown = result.problems if verbose else result.problems[:SHOWN_PROBLEMS]
        for where, problems in shown:
            self.stdout.write(f"{where}:")
            for problem in problems:
                self.stdout.write(f"  - {problem}")
        hidden = len(result.problems) - len(shown)
        if hidden:
            self.stdout.write(f"... and {hidden} more entries with problems (--verbose lists them all).")


def _links(counts: LinkCounts) -> str:
    return f"{counts.people} linked to people, {counts.teams} to teams, {counts.text} cells left as text"
