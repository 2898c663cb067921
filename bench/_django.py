"""Shared set-up for benchmarks: a throwaway database on the chosen backend, migrated, torn down after."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
POSTGRES_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> bool:
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL.replace("postgres://", "postgresql://"), connect_timeout=3):
            return True
    except Exception:
        return False


def run_per_backend(script: str, extra_args: list[str]) -> None:
    """Run `script --backend X` in a fresh process per backend (Django settings are per process)."""
    backends = ["sqlite"] + (["postgres"] if postgres_reachable() else [])
    if "postgres" not in backends:
        print(f"PostgreSQL not reachable at {POSTGRES_URL}: skipping it.")
    for backend in backends:
        subprocess.run([sys.executable, script, "--backend", backend, *extra_args], check=True, cwd=ROOT)


@contextmanager
def django_on(backend: str):
    """Configure Django for the backend and yield with a migrated, empty database."""
    sys.path.insert(0, str(ROOT))
    data_dir = tempfile.mkdtemp(prefix="gatehouse-bench-")
    os.environ["GATEHOUSE_DATA_DIR"] = data_dir
    os.environ["DJANGO_SETTINGS_MODULE"] = "gatehouse.settings"
    if backend == "postgres":
        os.environ["DATABASE_URL"] = POSTGRES_URL
        os.environ["GATEHOUSE_TEST_DB_NAME"] = f"gatehouse_bench_{os.getpid()}"
    else:
        os.environ["DATABASE_URL"] = f"sqlite:///{data_dir}/bench.sqlite3"
        os.environ["GATEHOUSE_TEST_DB_NAME"] = f"{data_dir}/bench-test.sqlite3"
    import django

    django.setup()
    from django.db import connection

    old_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)
    try:
        yield connection
    finally:
        connection.creation.destroy_test_db(old_name, verbosity=0)
