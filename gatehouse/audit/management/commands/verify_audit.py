import sys

from gatehouse.audit.models import AuditEvent
from gatehouse.audit.services import verify_chain
from gatehouse.core.management.base import GatehouseCommand


class Command(GatehouseCommand):
    help = "Recompute the audit trail's hash chain. Exits 0 when intact, 1 naming the first broken event."

    def handle(self, *args, **options):
        total = AuditEvent.objects.count()
        bar = self.progress(iter(()), total=total, desc="verifying")
        result = verify_chain(progress=bar.update)
        bar.close()
        if result.ok:
            self.stdout.write(self.style.SUCCESS(f"Audit trail intact: {result.checked} events verified."))
            return
        self.stderr.write(
            self.style.ERROR(
                f"Audit trail broken at event #{result.broken_event_id}: {result.reason}. "
                f"{result.checked} events before it verified."
            )
        )
        sys.exit(1)
