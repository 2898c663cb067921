import sys
from pathlib import Path

from gatehouse.core.management.base import GatehouseCommand
from gatehouse.core.permissions import SYSTEM
from gatehouse.endpoints.catalog import import_os_releases
from gatehouse.endpoints.defaults import CatalogError


class Command(GatehouseCommand):
    help = (
        "Import OS releases into the catalog from a CSV with the columns platform (macos, windows, linux), line, "
        "version, released_on (YYYY-MM-DD). New versions are added, changed lines or dates updated. All or "
        "nothing: a bad row names its row and field, nothing is written, and the command exits 1. "
        "See docs/endpoints.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The CSV file.")

    def handle(self, *args, file: Path, **options):
        try:
            with file.open(newline="", encoding="utf-8-sig") as handle:
                result = import_os_releases(handle, actor=SYSTEM, progress=self.progress)
        except (OSError, UnicodeDecodeError) as exc:
            self.stderr.write(self.style.ERROR(f"{file}: cannot read: {exc}"))
            sys.exit(1)
        except CatalogError as exc:
            self.stderr.write(self.style.ERROR(f"{file}: {exc}; nothing was imported."))
            sys.exit(1)
        self.stdout.write(
            self.style.SUCCESS(
                f"{file}: {result.created} releases added, {result.changed} changed, {result.unchanged} unchanged."
            )
        )
