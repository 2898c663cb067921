import sys
from pathlib import Path

from gatehouse.access.evidence import export, filename
from gatehouse.access.models import ReviewCampaign
from gatehouse.core.management.base import GatehouseCommand


class Command(GatehouseCommand):
    help = "Write an access review campaign's evidence export (CSV or JSON) to a file."

    def add_arguments(self, parser):
        parser.add_argument("campaign", type=int, help="The campaign's id.")
        parser.add_argument("--format", choices=["csv", "json"], default="csv")
        parser.add_argument("--output", "-o", type=Path, help="Default: access-review-<id>-evidence.<format>")

    def handle(self, *args, campaign: int, format: str, output: Path | None, **options):
        found = ReviewCampaign.objects.filter(pk=campaign).first()
        if found is None:
            self.stderr.write(self.style.ERROR(f"No review campaign #{campaign}."))
            sys.exit(1)
        output = output or Path(filename(found, format))
        output.write_bytes(export(found, format))
        self.stdout.write(self.style.SUCCESS(f"Wrote {output} ({found.snapshot_rows} snapshot rows)."))
