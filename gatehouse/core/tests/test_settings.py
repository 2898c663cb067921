"""Settings read from the environment: each case imports gatehouse.settings in a fresh interpreter, because
settings are read once per process and this one's are already loaded."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parents[3]

REPORT = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "gatehouse.settings"
import django
from django.conf import settings
django.setup()
from huey.contrib.djhuey import HUEY
db = settings.DATABASES["default"]
print(json.dumps({
    "db": {k: db.get(k) for k in ("ENGINE", "NAME", "HOST", "PORT", "USER", "CONN_MAX_AGE", "OPTIONS", "TEST")},
    "huey": settings.HUEY,
    "huey_instance": [type(HUEY).__name__, HUEY.name],
    "data_dir": str(settings.DATA_DIR),
    "secret_key": settings.SECRET_KEY,
    "debug": settings.DEBUG,
    "allowed_hosts": settings.ALLOWED_HOSTS,
    "secure_cookies": [settings.SESSION_COOKIE_SECURE, settings.CSRF_COOKIE_SECURE],
}, default=str))
"""


def settings_with(tmp_path: Path, script: str = REPORT, **env: str) -> dict:
    """gatehouse.settings as a fresh process sees them with exactly these GATEHOUSE_*/URL variables."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GATEHOUSE_") and k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE"}
    }
    clean["GATEHOUSE_DATA_DIR"] = str(tmp_path / "var")
    clean.update(env)
    result = subprocess.run(
        [sys.executable, "-c", script], env=clean, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_defaults_keep_everything_in_the_data_dir_sqlite_and_the_sqlite_queue(tmp_path):
    got = settings_with(tmp_path)
    data_dir = tmp_path / "var"
    assert got["data_dir"] == str(data_dir)
    assert got["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert got["db"]["NAME"] == str(data_dir / "gatehouse.sqlite3")
    assert "PRAGMA journal_mode=WAL" in got["db"]["OPTIONS"]["init_command"]
    assert got["db"]["TEST"]["NAME"] is None  # tests run in memory unless GATEHOUSE_TEST_DB_NAME says
    assert got["huey"]["huey_class"] == "huey.SqliteHuey"
    assert got["huey"]["filename"] == str(data_dir / "huey.sqlite3")
    assert got["huey"]["immediate"] is False
    assert got["huey_instance"] == ["SqliteHuey", "gatehouse"]
    assert got["debug"] is False
    assert got["allowed_hosts"] == ["127.0.0.1", "localhost", "testserver"]
    assert got["secure_cookies"] == [False, False]


def test_the_secret_key_is_made_once_in_the_data_dir_readable_by_its_owner_only(tmp_path):
    first = settings_with(tmp_path)["secret_key"]
    key_file = tmp_path / "var" / "secret_key"
    assert len(first) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert settings_with(tmp_path)["secret_key"] == first  # the same on the next start
    assert (
        settings_with(tmp_path, GATEHOUSE_SECRET_KEY="from-the-environment")["secret_key"]
        == "from-the-environment"
    )


def test_database_url_switches_to_postgresql(tmp_path):
    got = settings_with(
        tmp_path,
        DATABASE_URL="postgres://gate:s3cret@db.internal:5433/gatehouse",
        GATEHOUSE_TEST_DB_NAME="test_gatehouse_run42",
    )
    db = got["db"]
    assert db["ENGINE"] == "django.db.backends.postgresql"
    assert (db["NAME"], db["HOST"], db["PORT"], db["USER"]) == ("gatehouse", "db.internal", 5433, "gate")
    assert db["CONN_MAX_AGE"] == 60  # persistent connections on a server database
    assert db["TEST"]["NAME"] == "test_gatehouse_run42"
    assert "init_command" not in (db["OPTIONS"] or {})
    assert got["huey"]["huey_class"] == "huey.SqliteHuey"  # the queue is a separate choice


def test_database_url_names_another_sqlite_file_still_in_wal_mode(tmp_path):
    path = tmp_path / "elsewhere" / "other.sqlite3"
    path.parent.mkdir()
    got = settings_with(
        tmp_path, DATABASE_URL=f"sqlite:///{path}", GATEHOUSE_TEST_DB_NAME=str(tmp_path / "t.db")
    )
    assert got["db"]["ENGINE"] == "django.db.backends.sqlite3"
    assert got["db"]["NAME"] == str(path)
    assert got["db"]["CONN_MAX_AGE"] == 0
    assert "PRAGMA journal_mode=WAL" in got["db"]["OPTIONS"]["init_command"]
    assert got["db"]["TEST"]["NAME"] == str(tmp_path / "t.db")


def test_redis_url_switches_the_worker_to_redis(tmp_path):
    got = settings_with(
        tmp_path, REDIS_URL="redis://cache.internal:6380/3", GATEHOUSE_HUEY_NAME="gatehouse-eu"
    )
    assert got["huey"]["huey_class"] == "huey.RedisHuey"
    assert got["huey"]["url"] == "redis://cache.internal:6380/3"
    assert "filename" not in got["huey"]
    assert got["huey_instance"] == ["RedisHuey", "gatehouse-eu"]  # built without connecting
    assert got["db"]["ENGINE"] == "django.db.backends.sqlite3"  # the database is a separate choice


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("true", True), ("on", True), ("0", False), ("", False)]
)
def test_boolean_variables(tmp_path, value, expected):
    got = settings_with(tmp_path, GATEHOUSE_DEBUG=value, GATEHOUSE_SECURE_COOKIES=value)
    assert got["debug"] is expected
    assert got["secure_cookies"] == [expected, expected]


def test_allowed_hosts_is_a_comma_separated_list(tmp_path):
    got = settings_with(tmp_path, GATEHOUSE_ALLOWED_HOSTS=" gatehouse.example.com, .internal ,")
    assert got["allowed_hosts"] == ["gatehouse.example.com", ".internal"]


def test_the_sqlite_database_really_runs_in_wal_mode(tmp_path):
    script = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "gatehouse.settings"
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    modes = {p: cursor.execute(f"PRAGMA {p}").fetchone()[0] for p in ("journal_mode", "foreign_keys", "synchronous")}
print(json.dumps(modes))
"""
    assert settings_with(tmp_path, script) == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 1}
    assert (tmp_path / "var" / "gatehouse.sqlite3").exists()
