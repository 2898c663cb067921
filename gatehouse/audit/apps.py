import hashlib

from django.apps import AppConfig
from django.db.backends.signals import connection_created


def _register_sqlite_functions(sender, connection, **kwargs) -> None:
    # The audit chain's single-event append hashes inside the database (see audit.services._append_sql).
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "gatehouse_sha256", 1, lambda text: hashlib.sha256(text.encode()).hexdigest(), deterministic=True
        )


class AuditConfig(AppConfig):
    name = "gatehouse.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        connection_created.connect(_register_sqlite_functions, dispatch_uid="gatehouse_sqlite_functions")
