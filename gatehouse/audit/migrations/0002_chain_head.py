"""The chain head row, and a trigger that advances it with every inserted event.

Doing it in the database means no write path can forget the head, and an append costs one statement
(see audit.services._append_sql)."""

from django.db import migrations

GENESIS_HASH = "0" * 64

SQLITE_CREATE = """
CREATE TRIGGER audit_event_advances_head AFTER INSERT ON audit_auditevent
BEGIN
    UPDATE audit_auditchainhead
       SET last_event_id = NEW.id, last_hash = NEW.hash, event_count = event_count + 1
     WHERE id = 1;
END;
"""
POSTGRES_CREATE = """
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
SQLITE_DROP = "DROP TRIGGER IF EXISTS audit_event_advances_head;"
POSTGRES_DROP = (
    "DROP TRIGGER IF EXISTS audit_event_advances_head ON audit_auditevent;"
    "DROP FUNCTION IF EXISTS audit_event_advances_head();"
)


def create(apps, schema_editor):
    apps.get_model("audit", "AuditChainHead").objects.get_or_create(pk=1, defaults={"last_hash": GENESIS_HASH})
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(SQLITE_CREATE)
    elif vendor == "postgresql":
        schema_editor.execute(POSTGRES_CREATE)
    else:
        raise RuntimeError(f"Gatehouse supports SQLite and PostgreSQL, not {vendor}.")


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    schema_editor.execute(SQLITE_DROP if vendor == "sqlite" else POSTGRES_DROP)


class Migration(migrations.Migration):
    dependencies = [("audit", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
