import sys
from pathlib import Path

from gatehouse.access.evidence import verify
from gatehouse.core.management.base import GatehouseCommand


class Command(GatehouseCommand):
    help = (
        "Recompute the hashes of an access review evidence export (.csv or .json): each row's, the snapshot's "
        "and the whole export's. Exits 0 when they match, 1 naming the first mismatch."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="The evidence export, as downloaded.")

    def handle(self, *args, file: Path, **options):
        try:
            result = verify(file)
        except OSError as exc:
            self.stderr.write(self.style.ERROR(f"{file}: {exc.strerror or exc}"))
            sys.exit(1)
        if not result.ok:
            self.stderr.write(self.style.ERROR(f"{file}: mismatch: {result.problem}."))
            sys.exit(1)
        self.stdout.write(
            self.style.SUCCESS(
                f"{file}: intact; {result.rows} snapshot rows, snapshot and export SHA-256 match."
            )
        )
