"""Full-text search over guides (gatehouse.desk.guides, docs/decisions/0004-guide-search.md).

SQLite: an FTS5 table with external content (the text stays in desk_guide only), kept in sync by triggers on
every insert, update and delete. PostgreSQL: a GIN index over the weighted tsvector of title, summary and
body, an expression the database keeps current on every write; the search query uses the same expression.

A later migration that rebuilds desk_guide on SQLite (ALTER of a column) drops the triggers with the old table:
test_guides.py checks they exist, and such a migration must create them again (see SQLITE_TRIGGERS).
"""

from django.db import migrations

# The same expression as gatehouse.desk.guides.GUIDE_VECTOR_SQL (a test keeps them equal): PostgreSQL uses the
# index only for a query that repeats it.
GUIDE_VECTOR = (
    "(setweight(to_tsvector('english'::regconfig, coalesce(title, '')), 'A') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(summary, '')), 'B') || "
    "setweight(to_tsvector('english'::regconfig, coalesce(body, '')), 'C'))"
)
SQLITE_TABLE = """
CREATE VIRTUAL TABLE desk_guide_fts USING fts5(
    title, summary, body,
    content='desk_guide', content_rowid='id',
    tokenize='porter unicode61 remove_diacritics 2'
);
"""
SQLITE_TRIGGERS = [
    """
    CREATE TRIGGER desk_guide_fts_insert AFTER INSERT ON desk_guide BEGIN
        INSERT INTO desk_guide_fts(rowid, title, summary, body) VALUES (new.id, new.title, new.summary, new.body);
    END;
    """,
    """
    CREATE TRIGGER desk_guide_fts_delete AFTER DELETE ON desk_guide BEGIN
        INSERT INTO desk_guide_fts(desk_guide_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
    END;
    """,
    """
    CREATE TRIGGER desk_guide_fts_update AFTER UPDATE OF title, summary, body ON desk_guide BEGIN
        INSERT INTO desk_guide_fts(desk_guide_fts, rowid, title, summary, body)
        VALUES ('delete', old.id, old.title, old.summary, old.body);
        INSERT INTO desk_guide_fts(rowid, title, summary, body) VALUES (new.id, new.title, new.summary, new.body);
    END;
    """,
]
SQLITE_REBUILD = "INSERT INTO desk_guide_fts(desk_guide_fts) VALUES ('rebuild');"
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS desk_guide_fts_insert;",
    "DROP TRIGGER IF EXISTS desk_guide_fts_delete;",
    "DROP TRIGGER IF EXISTS desk_guide_fts_update;",
    "DROP TABLE IF EXISTS desk_guide_fts;",
]
POSTGRES_CREATE = f"CREATE INDEX desk_guide_search_idx ON desk_guide USING GIN ({GUIDE_VECTOR});"
POSTGRES_DROP = "DROP INDEX IF EXISTS desk_guide_search_idx;"


def create(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        schema_editor.execute(SQLITE_TABLE)
        for statement in SQLITE_TRIGGERS:
            schema_editor.execute(statement)
        schema_editor.execute(SQLITE_REBUILD)  # guides written before this migration
    elif vendor == "postgresql":
        schema_editor.execute(POSTGRES_CREATE)
    else:
        raise RuntimeError(f"Gatehouse supports SQLite and PostgreSQL, not {vendor}.")


def drop(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "sqlite":
        for statement in SQLITE_DROP:
            schema_editor.execute(statement)
    else:
        schema_editor.execute(POSTGRES_DROP)


class Migration(migrations.Migration):
    dependencies = [("desk", "0001_initial")]
    operations = [migrations.RunPython(create, drop)]
