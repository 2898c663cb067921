from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DeskConfig(AppConfig):
    name = "gatehouse.desk"
    label = "desk"
    verbose_name = "Desk"

    def ready(self) -> None:
        from gatehouse.desk import rules  # noqa: F401  (registers the object-level permission rules)
        from gatehouse.desk.defaults import seed_after_migrate

        # After migrate, and after a test database is flushed: a desk without request types gets the defaults.
        post_migrate.connect(seed_after_migrate, sender=self)
