import hashlib

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def _register_sqlite_functions(sender, connection, **kwargs) -> None:
    # The audit chain's single-event append hashes inside the database (see audit.services._append_sql).
    if connection.vendor == "sqlite":
        connection.connection.create_function(
            "gatehouse_sha256", 1, lambda text: hashlib.sha256(text.encode()).hexdigest(), deterministic=True
        )


def _ensure_chain_head(sender=None, using: str = "default", **kwargs) -> None:
    """The head row of an empty trail (migration 0002 makes it; a flushed test database needs it again).

    Never when events exist: a missing head beside events is tampering, for verify_audit to report.
    """
    from gatehouse.audit.models import AuditChainHead, AuditEvent
    from gatehouse.audit.services import GENESIS_HASH

    if not AuditChainHead.objects.using(using).exists() and not AuditEvent.objects.using(using).exists():
        AuditChainHead.objects.using(using).create(pk=1, last_hash=GENESIS_HASH)


class AuditConfig(AppConfig):
    name = "gatehouse.audit"
    label = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        connection_created.connect(_register_sqlite_functions, dispatch_uid="gatehouse_sqlite_functions")
        post_migrate.connect(_ensure_chain_head, sender=self)
