"""Fast bulk writes for imports and check runs: plain statements instead of the ORM's per-value work.

Django's bulk_update builds a CASE WHEN per field and row, and bulk_create prepares every value of every object
through several layers of field methods; at 100,000 devices that is most of an import's time. These helpers
write the same values, each field's adapter chosen once per call rather than per value:

- `insert_rows`: INSERT, optionally ON CONFLICT DO UPDATE (an upsert) or RETURNING;
- `bulk_set`: UPDATE given fields by primary key.

On SQLite (3.35+) they use executemany (one prepared statement stepped in C) or multi-row VALUES. On PostgreSQL,
a large write is one COPY (into the table, or into a temporary table the INSERT or UPDATE then reads), several
times faster than multi-row VALUES, whose statements PostgreSQL must parse and plan with thousands of
parameters; a small one (under COPY_ABOVE rows) is one multi-row statement.
"""

from __future__ import annotations

import datetime
import functools
import gc
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connections, router, transaction

SQLITE_MAX_PARAMS = 32766  # SQLite 3.32+
COPY_ABOVE = (
    100  # rows: below this, PostgreSQL gets one multi-row statement rather than COPY and a temp table
)
_STAGE = "gatehouse_bulk_stage"


@contextmanager
def cycle_collection_paused() -> Iterator[None]:
    """Pause CPython's cyclic garbage collector for the block (reference counting still frees everything).

    Bulk work (parsing a feed, importing it, checking every device) holds hundreds of thousands of small objects
    that form no cycles; the collector's full passes, triggered as the heap grows, walk them all again and again
    and took about 40% of an import (docs/decisions/0008). Nested blocks are fine: only the outermost turns the
    collector back on, and only if it was on."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def paused_cycle_collection(function):
    """Decorator: run `function` inside cycle_collection_paused()."""

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        with cycle_collection_paused():
            return function(*args, **kwargs)

    return wrapper


class JsonText(str):
    """A value already encoded as JSON, for a JSON column: written as it is (a parser that hashed the canonical
    text, or a run writing the same small list thousands of times, need not encode it again)."""


def _identity(value: Any) -> Any:
    return value


def _sqlite_datetime(connection) -> Callable[[Any], Any]:
    """DatabaseOperations.adapt_datetimefield_value of SQLite (aware -> naive in the connection's zone, as
    text), without its per-call settings lookups, remembering the last value (a run writes `now` often)."""
    if not settings.USE_TZ:
        return connection.ops.adapt_datetimefield_value
    zone = connection.timezone
    last: list = [None, None]

    def adapt(value):
        if value is None:
            return None
        if value is last[0]:
            return last[1]
        if not isinstance(value, datetime.datetime):
            return connection.ops.adapt_datetimefield_value(value)
        text = str(value.astimezone(zone).replace(tzinfo=None) if value.utcoffset() is not None else value)
        last[0], last[1] = value, text
        return text

    return adapt


def adapter(field, connection) -> Callable[[Any], Any]:
    """The function turning a Python value of `field` into the database parameter, as Field.get_db_prep_save
    would; the common types get a direct path, the rest go through the field."""
    kind = field.get_internal_type()
    ops = connection.ops
    if kind in ("CharField", "TextField", "SlugField", "EmailField"):
        # Written as they are: sqlite3 and psycopg both write a str subclass (a TextChoices member) by its text.
        return _identity
    if kind in ("BooleanField", "IntegerField", "BigIntegerField", "PositiveIntegerField",
                "PositiveSmallIntegerField", "SmallIntegerField", "AutoField", "BigAutoField"):  # fmt: skip
        return _identity
    if kind == "ForeignKey" and field.target_field.get_internal_type() in ("AutoField", "BigAutoField"):
        return _identity
    if kind == "DateTimeField":
        if connection.vendor == "postgresql":
            return _identity  # psycopg writes an aware datetime itself (adapt_datetimefield_value is a no-op)
        return (
            _sqlite_datetime(connection) if connection.vendor == "sqlite" else ops.adapt_datetimefield_value
        )
    if kind == "JSONField":
        encoder = field.encoder
        return lambda value: str(value) if type(value) is JsonText else ops.adapt_json_value(value, encoder)
    return lambda value: field.get_db_prep_save(value, connection)


def _prepare(adapters: list[Callable[[Any], Any]], rows: Iterable[Sequence]) -> list[list]:
    """The rows as lists of parameters (the values needing no adaptation left as they are)."""
    todo = [(i, adapt) for i, adapt in enumerate(adapters) if adapt is not _identity]
    out = []
    for row in rows:
        if len(row) != len(adapters):
            raise ValueError(f"a row of {len(row)} values for {len(adapters)} columns")
        row = list(row)
        for i, adapt in todo:
            row[i] = adapt(row[i])
        out.append(row)
    return out


def _copy(cursor, table: str, columns: list[str], rows: Iterable[Sequence]) -> None:
    with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _stage(cursor, qn, columns: list[tuple[str, str]], rows: Iterable[Sequence]) -> str:
    """A temporary table (name, type pairs) holding the rows, for one statement to read; drop it after."""
    cursor.execute(
        f"CREATE TEMPORARY TABLE {_STAGE} ({', '.join(f'{qn(n)} {t}' for n, t in columns)}) ON COMMIT DROP"
    )
    _copy(cursor, _STAGE, [qn(n) for n, _ in columns], rows)
    return _STAGE


def _target(model, fields: Sequence[str]) -> tuple[str, Any, list, list[Callable[[Any], Any]]]:
    """The database alias and connection a write of `model` goes to, the fields and their adapters."""
    using = router.db_for_write(model)
    connection = connections[using]
    concrete = [model._meta.get_field(name) for name in fields]
    return using, connection, concrete, [adapter(f, connection) for f in concrete]


def reserve_ids(model, count: int) -> list[int]:
    """`count` new primary keys of `model`, for rows the caller inserts with them later in its transaction (so
    that rows pointing at them can be written first: foreign keys are checked at commit).

    PostgreSQL takes them from the table's sequence. SQLite has none: they follow the highest id ever used
    (AUTOINCREMENT's sqlite_sequence, or the table's highest if higher), and the inserts move sqlite_sequence on;
    nobody else can take them meanwhile, since a write transaction there holds the database's write lock from
    its start (transaction_mode IMMEDIATE)."""
    if count <= 0:
        return []
    connection = connections[router.db_for_write(model)]
    qn = connection.ops.quote_name
    table, pk = model._meta.db_table, model._meta.pk.column
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [table, pk, count],
            )
            return [row[0] for row in cursor.fetchall()]
        if connection.vendor != "sqlite":
            raise NotImplementedError(f"reserve_ids supports SQLite and PostgreSQL, not {connection.vendor}")
        if not connection.in_atomic_block:
            raise RuntimeError("reserve_ids on SQLite must run inside the transaction that inserts the rows")
        cursor.execute(
            f"SELECT MAX(n) FROM (SELECT seq AS n FROM sqlite_sequence WHERE name = %s "
            f"UNION ALL SELECT MAX({qn(pk)}) FROM {qn(table)})",
            [table],
        )
        last = cursor.fetchone()[0] or 0
    return list(range(last + 1, last + 1 + count))


def insert_rows(
    model,
    fields: Sequence[str],
    rows: Sequence[Sequence],
    *,
    conflict: Sequence[str] = (),
    update: Sequence[str] = (),
    returning: Sequence[str] = (),
    batch_size: int = 1000,
) -> list[tuple]:
    """INSERT the rows (tuples of Python values in `fields` order; field names).

    `conflict` and `update`: ON CONFLICT (conflict fields) DO UPDATE SET each `update` field to the new value
    (the upsert `bulk_create(update_conflicts=True)` does). `returning`: the fields to return, one tuple per
    inserted row (in no promised order: return a key with them). Every column the table requires must be given:
    no model defaults are applied.
    """
    if not rows:
        return []
    using, connection, concrete, adapters = _target(model, fields)
    qn, meta = connection.ops.quote_name, model._meta
    columns = ", ".join(qn(f.column) for f in concrete)
    suffix = ""
    if conflict:
        targets = ", ".join(qn(meta.get_field(name).column) for name in conflict)
        sets = ", ".join(f"{qn(c)} = excluded.{qn(c)}" for c in (meta.get_field(n).column for n in update))
        suffix += f" ON CONFLICT ({targets}) " + (f"DO UPDATE SET {sets}" if sets else "DO NOTHING")
    if returning:
        suffix += " RETURNING " + ", ".join(qn(meta.get_field(name).column) for name in returning)
    table = qn(meta.db_table)
    out: list[tuple] = []
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        if connection.vendor == "postgresql" and len(rows) > COPY_ABOVE:
            prepared = (_prepare(adapters, rows[i : i + batch_size]) for i in range(0, len(rows), batch_size))
            every = (row for batch in prepared for row in batch)
            if not suffix:
                _copy(cursor, table, [qn(f.column) for f in concrete], every)
                return []
            stage = _stage(cursor, qn, [(f.column, f.db_type(connection)) for f in concrete], every)
            cursor.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {stage}{suffix}")
            if returning:
                out = [tuple(r) for r in cursor.fetchall()]
            cursor.execute(f"DROP TABLE {stage}")
            return out
        row = "(" + ", ".join(["%s"] * len(concrete)) + ")"
        sql = f"INSERT INTO {table} ({columns}) VALUES "
        if connection.vendor == "sqlite":
            batch_size = min(batch_size, SQLITE_MAX_PARAMS // len(concrete))
        for start in range(0, len(rows), batch_size):
            params = _prepare(adapters, rows[start : start + batch_size])
            if connection.vendor == "sqlite" and not returning:
                cursor.executemany(sql + row + suffix, params)  # one prepared statement, stepped in C
                continue
            cursor.execute(sql + ", ".join([row] * len(params)) + suffix, [v for p in params for v in p])
            if returning:
                out += [tuple(r) for r in cursor.fetchall()]
    return out


def bulk_set(model, objs: Sequence, fields: Sequence[str], *, batch_size: int = 1000) -> int:
    """Write the given fields of the objects (by primary key). Returns how many objects were written.

    The objects need only `pk` and the fields' attributes (by attname): model instances or plain rows."""
    if not objs:
        return 0
    using, connection, concrete, adapters = _target(model, fields)
    qn, meta = connection.ops.quote_name, model._meta
    attnames = [f.attname for f in concrete]
    table, pk = qn(meta.db_table), qn(meta.pk.column)

    values = operator.attrgetter("pk", *attnames)
    todo = [(i + 1, adapt) for i, adapt in enumerate(adapters) if adapt is not _identity]

    def rows(batch):
        for obj in batch:
            row = list(values(obj))
            for i, adapt in todo:
                row[i] = adapt(row[i])
            yield row

    postgres = connection.vendor == "postgresql"
    with transaction.atomic(using=using, savepoint=False), connection.cursor() as cursor:
        if postgres and len(objs) > COPY_ABOVE:
            columns = [("k", meta.pk.db_type(connection))]
            columns += [(f"c{i}", f.db_type(connection)) for i, f in enumerate(concrete)]
            stage = _stage(cursor, qn, columns, rows(objs))
            assign = ", ".join(f"{qn(f.column)} = v.c{i}" for i, f in enumerate(concrete))
            cursor.execute(f"UPDATE {table} SET {assign} FROM {stage} v WHERE {table}.{pk} = v.k")
            cursor.execute(f"DROP TABLE {stage}")
            return len(objs)
        names = ", ".join(["k", *(f"c{i}" for i in range(len(concrete)))])
        if postgres:
            assign = ", ".join(
                f"{qn(f.column)} = v.c{i}::{f.db_type(connection)}" for i, f in enumerate(concrete)
            )
        else:
            assign = ", ".join(f"{qn(f.column)} = v.c{i}" for i, f in enumerate(concrete))
        row = "(" + ", ".join(["%s"] * (len(concrete) + 1)) + ")"
        for start in range(0, len(objs), batch_size):
            batch = objs[start : start + batch_size]
            params = [value for values in rows(batch) for value in values]
            cursor.execute(
                f"WITH v({names}) AS (VALUES {', '.join([row] * len(batch))}) "
                f"UPDATE {table} SET {assign} FROM v WHERE {table}.{pk} = v.k",
                params,
            )
    return len(objs)
