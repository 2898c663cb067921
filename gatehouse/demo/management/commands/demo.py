from django.core.management.base import CommandError

from gatehouse.core.management.base import GatehouseCommand
from gatehouse.core.permissions import SYSTEM
from gatehouse.demo.services import DemoError, iter_sign_in_lines, load_demo


class Command(GatehouseCommand):
    help = (
        "Load the demo company: about 200 people, teams, the 20 corporate systems and one sign-in per role. "
        "The same every time; running it again changes nothing."
    )

    def handle(self, *args, **options):
        try:
            summary = load_demo(actor=SYSTEM, progress=self.progress)
        except DemoError as exc:
            raise CommandError(str(exc)) from exc
        for kind in summary.totals:  # people, teams, systems, users, then what each module adds
            self.stdout.write(f"{kind.capitalize()}: {summary.totals[kind]} ({summary.created[kind]} new)")
        self.stdout.write(f"Changes recorded in the audit trail: {summary.audit_events}")
        self.stdout.write("")
        self.stdout.write("Demo sign-ins (username, password, role; demo only):")
        for line in iter_sign_in_lines(summary):
            self.stdout.write(line)
