from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "gatehouse.catalog"
    label = "catalog"
    verbose_name = "System catalog"

    def ready(self) -> None:
        from gatehouse.catalog import rules  # noqa: F401  (registers object-level permission rules)
