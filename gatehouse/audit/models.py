"""The audit trail: an append-only, hash-chained log of every change made through Gatehouse."""

from django.conf import settings
from django.db import models

from gatehouse.core.context import Source


class AuditEvent(models.Model):
    class Action(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"

    # Indexed outside the model (migration 0003): BRIN on PostgreSQL, as events arrive in time order; B-tree on SQLite.
    timestamp = models.DateTimeField()
    # No database constraint and no cascade: deleting a user must never rewrite the trail.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,  # filtering is by actor_label; one index fewer to write on every change
        related_name="+",
    )
    actor_label = models.CharField(max_length=150, db_index=True)
    source = models.CharField(max_length=10, choices=Source.CHOICES)
    action = models.CharField(max_length=10, choices=Action.choices)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=200)
    changes = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return f"#{self.pk} {self.actor_label} {self.action} {self.object_type}:{self.object_id}"


class AuditChainHead(models.Model):
    """One row: the last event of the chain. Appenders lock it, and verify_audit checks the tail against it,
    so deleting the newest events is caught as surely as editing old ones."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    last_event_id = models.BigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, default="0" * 64)
    event_count = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"head at #{self.last_event_id} ({self.event_count} events)"
