import sys

from gatehouse.access.connectors import ConnectorError
from gatehouse.access.sync import configured, sync_entitlement, syncable_entitlements
from gatehouse.catalog.models import System
from gatehouse.core.management.base import GatehouseCommand
from gatehouse.core.permissions import SYSTEM


class Command(GatehouseCommand):
    help = (
        "Reconcile the members of connected groups (Okta, Google Workspace, GitLab) into grants: members "
        "without a grant get one (source sync), grants whose holder left the group end. Every entitlement "
        "with a connector, or only the given system's. Exits 1 when any entitlement could not be synced. "
        "See docs/connectors.md."
    )

    def add_arguments(self, parser):
        parser.add_argument("system", nargs="?", help="A system slug: sync only its entitlements.")

    def handle(self, *args, system: str | None = None, **options):
        if system and not System.objects.filter(slug=system).exists():
            self.stderr.write(self.style.ERROR(f"No system with the slug {system!r}."))
            sys.exit(1)
        entitlements = list(syncable_entitlements(system))
        if not entitlements:
            self.stdout.write("No entitlements with a connector" + (f" on {system}." if system else "."))
            return
        failures = 0
        for entitlement in self.progress(entitlements, total=len(entitlements), desc="sync"):
            if not configured(entitlement):
                failures += 1
                self.stderr.write(
                    self.style.ERROR(
                        f"{entitlement}: the {entitlement.get_connector_display()} connector has no credentials configured."
                    )
                )
                continue
            try:
                result = sync_entitlement(entitlement, actor=SYSTEM)
            except ConnectorError as exc:
                failures += 1
                self.stderr.write(self.style.ERROR(f"{entitlement}: {exc.reason}; nothing written."))
                continue
            self.stdout.write(result.summary())
            for email in result.unmatched:
                self.stderr.write(
                    self.style.WARNING(f"{entitlement}: member {email} is not a person in Gatehouse.")
                )
            for email in result.drift:
                self.stderr.write(
                    self.style.WARNING(f"{entitlement}: {email} has left but is still a member.")
                )
        if failures:
            self.stderr.write(self.style.ERROR(f"{failures} of {len(entitlements)} entitlements not synced."))
            sys.exit(1)
        self.stdout.write(self.style.SUCCESS(f"{len(entitlements)} entitlements synced."))
