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

Two more things bulk work uses (decision 0008): `write_behind()`, inside which PostgreSQL plain inserts are sent
by a second thread while the caller goes on computing, and `cycle_collection_paused()`, which spares bulk work
the cyclic garbage collector's passes over its many live objects.
"""

from __future__ import annotations

import datetime
import gc
import operator
import queue
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, router, transaction

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
    collector back on, and only if it was on. Also a decorator: `@cycle_collection_paused()`."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class WriteBehind:
    """PostgreSQL: plain inserts (`insert_rows` without conflict or returning) sent by a second thread, on the
    same connection and in the same transaction, while this one goes on computing. The rows are turned into COPY
    data here; the thread only sends it and waits for the server, without the GIL, so the server's work (parsing,
    indexes) runs on the other core beside the import's Python instead of after it (decision 0008).

    Order and safety: the thread runs its writes one at a time, in the order given. Any other statement this
    thread runs through Django while the writer is open first waits until the writer is idle (an execute
    wrapper), so a read sees every write queued before it and the connection is never used by both at once. The
    first failed write stops the writer; its error is raised here at the next insert, statement or the block's
    end, and the transaction rolls back as for any error. Open one with `write_behind()`."""

    _STOP = object()

    def __init__(self, connection):
        from psycopg._copy_base import TextFormatter  # psycopg's own COPY row formatter (C), used here
        from psycopg.adapt import Transformer

        self.connection = connection
        self._formatter = lambda: TextFormatter(Transformer(connection.connection))
        self.jobs: queue.Queue = queue.Queue(maxsize=6)  # a few batches ahead at most: memory stays flat
        self.error: BaseException | None = None
        self.cancelled = False
        # The audit chain head after this transaction's last batch, with the savepoints it was written in
        # (audit.services._append_batch).
        self.audit_head: tuple[tuple[str, ...], str] | None = None
        self.thread = threading.Thread(target=self._run, name="gatehouse-write-behind", daemon=True)

    def _run(self) -> None:
        while True:
            job = self.jobs.get()
            try:
                if job is self._STOP:
                    return
                if self.error is None and not self.cancelled:
                    with self.connection.wrap_database_errors:
                        job(self.connection.connection)
            except BaseException as exc:  # handed to the other thread, which raises it
                self.error = exc
            finally:
                self.jobs.task_done()

    def copy(self, table: str, columns: list[str], rows: Iterable[Sequence]) -> None:
        """Queue a COPY of the rows (already adapted), formatted now."""
        self._raise()
        formatter = self._formatter()
        chunks = [formatter.write_row(row) for row in rows]  # a full buffer's worth now and then, else b""
        chunks.append(formatter.end())
        data = b"".join(chunks)
        sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"

        def job(dbapi) -> None:
            with dbapi.cursor() as cursor, cursor.copy(sql) as copy:
                copy.write(data)

        self.jobs.put(job)

    def wait(self) -> None:
        """Until every queued write is done; raises the first that failed."""
        self.jobs.join()
        self._raise()

    def _raise(self) -> None:
        if self.error is not None:
            error, self.error = self.error, None
            self.cancelled = True
            raise error

    def _barrier(self, execute, sql, params, many, context):
        self.wait()
        return execute(sql, params, many, context)


def active_writer(connection) -> WriteBehind | None:
    return getattr(connection, "gatehouse_write_behind", None)


# While a writer is open, the interpreter offers the GIL to the other thread this often (5 ms by default): its
# few Python steps per write then wait a fraction of a millisecond for the computing thread, not 5 ms each. The
# setting is the process's: the first writer to open sets it, the last to close puts the old one back.
_SWITCH_INTERVAL = 0.0005
_switch_lock = threading.Lock()
_switch_users = [0, 0.0]  # open writers, the interval before the first


def _shorter_switch_interval(on: bool) -> None:
    with _switch_lock:
        if on:
            if _switch_users[0] == 0:
                _switch_users[1] = sys.getswitchinterval()
                sys.setswitchinterval(min(_switch_users[1], _SWITCH_INTERVAL))
            _switch_users[0] += 1
        else:
            _switch_users[0] -= 1
            if _switch_users[0] == 0:
                sys.setswitchinterval(_switch_users[1])


@contextmanager
def write_behind(using: str = DEFAULT_DB_ALIAS) -> Iterator[WriteBehind | None]:
    """Open a WriteBehind on a PostgreSQL connection for the block, inside its transaction (on SQLite, whose
    writes need the GIL row by row, nothing: inserts are written as they come). Every write is done, or the first
    failure raised, when the block ends. Nested blocks share the open writer."""
    connection = connections[using]
    if connection.vendor != "postgresql" or active_writer(connection) is not None:
        yield active_writer(connection)
        return
    if not connection.in_atomic_block:
        raise RuntimeError("write_behind runs inside the transaction its writes belong to")
    writer = WriteBehind(connection)
    _shorter_switch_interval(True)
    writer.thread.start()
    connection.gatehouse_write_behind = writer
    try:
        with connection.execute_wrapper(writer._barrier):
            yield writer
            writer.wait()
    except BaseException:
        writer.cancelled = True  # the transaction rolls back: the writes still queued are dropped
        raise
    finally:
        connection.gatehouse_write_behind = None
        writer.jobs.put(WriteBehind._STOP)
        writer.thread.join()
        _shorter_switch_interval(False)


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
    writer = active_writer(cursor.db)
    if writer is not None:  # a raw COPY bypasses the execute wrapper: wait for the writer here
        writer.wait()
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
    writer = active_writer(connection)
    if writer is not None:
        if not suffix:  # one COPY per batch: what waits in the writer's queue stays a few batches' worth
            names = [qn(f.column) for f in concrete]
            for start in range(0, len(rows), batch_size):
                writer.copy(table, names, _prepare(adapters, rows[start : start + batch_size]))
            return []
        writer.wait()
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
