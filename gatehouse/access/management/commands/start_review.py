import sys

from django.core.exceptions import ValidationError

from gatehouse.access import reviews
from gatehouse.access.models import ReviewTemplate
from gatehouse.core.management.base import GatehouseCommand
from gatehouse.core.permissions import SYSTEM


class Command(GatehouseCommand):
    help = (
        "Start an access review campaign from a template now (by slug): snapshot the grants in scope, assign "
        "reviewers, set the due date. Does not move the template's next run. See docs/access.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("template", help="The review template's slug, e.g. sox-all-users-quarterly.")

    def handle(self, *args, template: str, **options):
        found = ReviewTemplate.objects.filter(slug=template).first()
        if found is None:
            slugs = ", ".join(ReviewTemplate.objects.order_by("slug").values_list("slug", flat=True))
            self.stderr.write(
                self.style.ERROR(f"No review template {template!r}. Templates: {slugs or 'none'}.")
            )
            sys.exit(1)
        total = reviews.population(found).count()
        bar = self.progress(iter(()), total=total, desc="snapshot")
        try:
            campaign = reviews.start_campaign(found, actor=SYSTEM, progress=bar.update)
        except ValidationError as exc:
            bar.close()
            for field, messages in exc.message_dict.items():
                self.stderr.write(self.style.ERROR(f"{field}: {' '.join(messages)}"))
            sys.exit(1)
        bar.close()
        unassigned = campaign.items.filter(reviewer__isnull=True).count()
        self.stdout.write(
            self.style.SUCCESS(
                f"Started campaign #{campaign.pk} {campaign.name}: {campaign.snapshot_rows} items, "
                f"snapshot SHA-256 {campaign.snapshot_sha256}, due {campaign.due_at:%Y-%m-%d %H:%M} UTC"
                + (f", {unassigned} without a reviewer (reassign them)." if unassigned else ".")
            )
        )
