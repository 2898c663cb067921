"""On SQLite, a batch append advances the chain head once, as a statement-level trigger does on PostgreSQL
(migration 0005).

SQLite has only row-level triggers: the head row was rewritten for every event, which was more than half the cost
of writing an import's 100,000 events (bench/endpoints.py). The trigger now skips the rows of a batch append:
`gatehouse_audit_batch()` (registered on every SQLite connection, see audit.apps) is 1 only while
audit.services.record_events writes a batch, and that batch then moves the head to its last event itself, in the
same transaction. Every other insert, the single-event append included, still advances the head row by row.
"""

from django.db import migrations

SQLITE_ROW_LEVEL = """
CREATE TRIGGER audit_event_advances_head AFTER INSERT ON audit_auditevent
BEGIN
    UPDATE audit_auditchainhead
       SET last_event_id = NEW.id, last_hash = NEW.hash, event_count = event_count + 1
     WHERE id = 1;
END;
"""
SQLITE_UNLESS_BATCH = """
CREATE TRIGGER audit_event_advances_head AFTER INSERT ON audit_auditevent
WHEN NOT gatehouse_audit_batch()
BEGIN
    UPDATE audit_auditchainhead
       SET last_event_id = NEW.id, last_hash = NEW.hash, event_count = event_count + 1
     WHERE id = 1;
END;
"""
SQLITE_DROP = "DROP TRIGGER IF EXISTS audit_event_advances_head;"


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)
        schema_editor.execute(SQLITE_UNLESS_BATCH)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        schema_editor.execute(SQLITE_DROP)
        schema_editor.execute(SQLITE_ROW_LEVEL)


class Migration(migrations.Migration):
    dependencies = [("audit", "0005_statement_level_head_trigger")]
    operations = [migrations.RunPython(forward, backward)]
