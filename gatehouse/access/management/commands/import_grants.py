import sys
from pathlib import Path

from gatehouse.access.importers import GrantsImportError, import_grants
from gatehouse.core.management.base import GatehouseCommand


class Command(GatehouseCommand):
    help = (
        "Import who holds which entitlement of SYSTEM (slug or name) from a CSV listing with the columns "
        "email, entitlement (slug or name), granted_at (ISO date or date and time). All or nothing: any unknown "
        "person or entitlement or bad date rejects the file, listing every problem by line and column, and "
        "exits 1. Grants already on record are left alone, so a re-import writes nothing. See docs/access.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("system", help="The system's slug or name.")
        parser.add_argument("file", type=Path, help="The CSV listing.")

    def handle(self, *args, system: str, file: Path, **options):
        try:
            result = import_grants(system, file, progress=self.progress)
        except GrantsImportError as exc:
            for problem in exc.problems:
                self.stderr.write(str(problem))
            count = len(exc.problems)
            self.stderr.write(
                self.style.ERROR(f"{file}: {count} problem{'s' if count != 1 else ''}; nothing was imported.")
            )
            sys.exit(1)
        for warning in result.warnings:
            self.stderr.write(self.style.WARNING(f"warning: {warning}"))
        self.stdout.write(
            self.style.SUCCESS(
                f"{file}: {result.created} grants created, {result.unchanged} already on record."
            )
        )
