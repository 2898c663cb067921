"""The time index of the trail: BRIN on PostgreSQL, B-tree on SQLite.

Events are appended in time order, so a BRIN index answers the audit page's time ranges while costing almost
nothing per insert; the B-tree it replaces was a large share of the trail's write cost on PostgreSQL
(bench/audit_overhead.py). SQLite has no BRIN and keeps the B-tree of 0001.

Only the model state changes through Django: an AlterField on SQLite rebuilds the table, and the rebuild
would drop the trigger of 0002 that advances the chain head.
"""

from django.db import migrations, models

BRIN = "audit_timestamp_brin"


def _btree_names(schema_editor) -> list[str]:
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, "audit_auditevent")
    return [
        name
        for name, spec in constraints.items()
        if spec["index"] and spec["columns"] == ["timestamp"] and not spec["primary_key"] and name != BRIN
    ]


def to_brin(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in _btree_names(schema_editor):
        schema_editor.execute(f'DROP INDEX IF EXISTS "{name}"')
    schema_editor.execute(f"CREATE INDEX {BRIN} ON audit_auditevent USING brin (timestamp)")


def to_btree(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX IF EXISTS {BRIN}")
    schema_editor.execute("CREATE INDEX audit_auditevent_timestamp_btree ON audit_auditevent (timestamp)")


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_chain_head")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(model_name="auditevent", name="timestamp", field=models.DateTimeField())
            ],
            database_operations=[migrations.RunPython(to_brin, to_btree)],
        )
    ]
