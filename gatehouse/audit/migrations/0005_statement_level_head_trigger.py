"""On PostgreSQL, advance the chain head once per INSERT statement rather than once per inserted event.

A row-level trigger updated the one head row for every event. Inside one transaction PostgreSQL keeps every
version of that row (none can be pruned before the commit), so each update walked a longer chain than the last:
an import writing 100,000 events in one transaction took minutes and got slower with every batch
(bench/endpoints.py: 809 s for one feed). A statement-level trigger reads the statement's new rows from a
transition table and moves the head to the last of them, so a bulk insert of 500 events updates the head once.
The single-event append (audit.services._append_sql) is one statement too, so nothing else changes. SQLite keeps
its row-level trigger: it rewrites the row in place and has no such cost (and no statement-level triggers).
"""

from django.db import migrations

POSTGRES_STATEMENT_LEVEL = """
DROP TRIGGER IF EXISTS audit_event_advances_head ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_advances_head();
CREATE FUNCTION audit_event_advances_head() RETURNS trigger AS $$
BEGIN
    UPDATE audit_auditchainhead h
       SET last_event_id = n.id, last_hash = n.hash, event_count = h.event_count + n.added
      FROM (
            SELECT id, hash, (SELECT count(*) FROM inserted) AS added
              FROM inserted ORDER BY id DESC LIMIT 1
           ) n
     WHERE h.id = 1;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_advances_head AFTER INSERT ON audit_auditevent
    REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT EXECUTE FUNCTION audit_event_advances_head();
"""
POSTGRES_ROW_LEVEL = """
DROP TRIGGER IF EXISTS audit_event_advances_head ON audit_auditevent;
DROP FUNCTION IF EXISTS audit_event_advances_head();
CREATE FUNCTION audit_event_advances_head() RETURNS trigger AS $$
BEGIN
    UPDATE audit_auditchainhead
       SET last_event_id = NEW.id, last_hash = NEW.hash, event_count = event_count + 1
     WHERE id = 1;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_event_advances_head AFTER INSERT ON audit_auditevent
    FOR EACH ROW EXECUTE FUNCTION audit_event_advances_head();
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_STATEMENT_LEVEL)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(POSTGRES_ROW_LEVEL)


class Migration(migrations.Migration):
    dependencies = [("audit", "0004_chat_source")]
    operations = [migrations.RunPython(forward, backward)]
