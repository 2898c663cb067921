from django.apps import AppConfig
from django.db.models.signals import post_migrate


class EndpointsConfig(AppConfig):
    name = "gatehouse.endpoints"
    label = "endpoints"
    verbose_name = "Endpoints"

    def ready(self) -> None:
        from gatehouse.endpoints.defaults import seed_after_migrate

        # After migrate, and after a test database is flushed: platform policies and the OS release catalog.
        post_migrate.connect(seed_after_migrate, sender=self)
        # --- endpoints part C: the remediation request type, seeded like the desk's types ---
        from gatehouse.endpoints.remediation import seed_after_migrate as seed_remediation_type

        post_migrate.connect(seed_remediation_type, sender=self)
        # --- end endpoints part C ---
