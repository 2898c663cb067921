from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AccessConfig(AppConfig):
    name = "gatehouse.access"
    label = "access"
    verbose_name = "Access lifecycle"

    def ready(self) -> None:
        # Each part registers its object-level permission rules here, one marked line each.
        from gatehouse.access import grants  # noqa: F401  (part A: entitlement and grant rules)

        # part D: the default access review templates after migrate (and after a test database is flushed).
        from gatehouse.access.review_defaults import seed_after_migrate as seed_review_templates

        post_migrate.connect(seed_review_templates, sender=self)
