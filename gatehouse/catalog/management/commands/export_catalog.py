import sys
from pathlib import Path

from gatehouse.catalog.importers import export_catalog
from gatehouse.core.management.base import GatehouseCommand


class Command(GatehouseCommand):
    help = (
        "Write every system as a tech stack YAML file: the original text of values unchanged since the import, "
        "the canonical text of the rest. FILE '-' writes to standard output. See docs/catalog-import.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="Where to write the YAML; '-' for standard output.")

    def handle(self, *args, file: str, **options):
        if file == "-":
            export_catalog(self.stdout, progress=self.progress)
            return
        try:
            count = export_catalog(Path(file), progress=self.progress)
        except OSError as exc:
            self.stderr.write(self.style.ERROR(f"{file}: cannot write the file: {exc.strerror or exc}"))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"{file}: {count} systems written."))
