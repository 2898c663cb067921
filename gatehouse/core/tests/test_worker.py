"""The worker for real: a Huey consumer runs queued jobs, whose changes are audited with source "job"; and
`gatehouse serve` runs the web server and the worker together.

The consumer tests run huey.consumer.Consumer as threads in this process, against the project's own Huey
instance pointed at a queue of this test's own (a unique name, so parallel runs never take each other's
tasks). Threads, not a `gatehouse run_huey` process, because the SQLite test database is in memory and
another process cannot see it; the tasks still go through the real queue (serialised, stored, fetched).
The serve tests do start the real processes, on a file database of their own.
"""

from __future__ import annotations

import datetime
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone
from huey.contrib import djhuey
from huey.signals import SIGNAL_COMPLETE, SIGNAL_ERROR
from huey.storage import RedisStorage, SqliteStorage

from gatehouse.audit.models import AuditEvent
from gatehouse.core.context import Source
from gatehouse.directory.models import PersonStatus
from gatehouse.directory.tasks import refresh_person_statuses
from gatehouse.directory.tests.factories import PersonFactory

pytestmark = pytest.mark.worker

PROJECT_DIR = Path(__file__).resolve().parents[3]
CLOSE_HOOK = "test-close-database-connections"


class Outcomes:
    """How the consumer finished each task, from Huey's signals: periodic tasks store no result to wait on."""

    def __init__(self) -> None:
        self.by_task: dict[str, tuple[str, tuple]] = {}
        self._changed = threading.Condition()

    def __call__(self, signal_name: str, task, *args) -> None:
        with self._changed:
            self.by_task[task.id] = (signal_name, args)
            self._changed.notify_all()

    def wait(self, task_id: str, timeout: float = 30) -> tuple[str, tuple]:
        with self._changed:
            assert self._changed.wait_for(lambda: task_id in self.by_task, timeout), (
                f"no outcome after {timeout}s"
            )
            return self.by_task[task_id]


@contextmanager
def running_consumer(storage) -> Iterator[Outcomes]:
    """The project's Huey on the given queue, with a consumer (one worker thread) taking tasks from it."""
    huey = djhuey.HUEY
    outcomes = Outcomes()
    saved_storage, saved_immediate = huey.storage, huey.immediate
    saved_handlers = {
        signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    }
    huey.immediate = False
    huey.storage = storage
    huey.signal(SIGNAL_COMPLETE, SIGNAL_ERROR)(outcomes)
    # A worker thread's database connection outlives the thread; left open on PostgreSQL it would keep
    # pytest from dropping the test database at the end.
    huey.on_shutdown(CLOSE_HOOK)(connections.close_all)
    consumer = huey.create_consumer(
        workers=1,
        worker_type="thread",
        periodic=False,
        check_worker_health=False,
        initial_delay=0.05,
        max_delay=0.2,
    )
    try:
        consumer.start()
        yield outcomes
    finally:
        consumer.stop(graceful=True)
        huey.disconnect_signal(outcomes, SIGNAL_COMPLETE, SIGNAL_ERROR)
        huey.unregister_on_shutdown(CLOSE_HOOK)
        for signum, handler in saved_handlers.items():  # Consumer.start installs its own
            signal.signal(signum, handler)
        storage.flush_all()
        huey.storage = saved_storage
        huey.immediate = saved_immediate


def queue_name() -> str:
    return f"gatehouse-test-{uuid.uuid4().hex[:12]}"


def assert_job_runs_and_is_audited(outcomes: Outcomes) -> None:
    yesterday = timezone.localdate() - datetime.timedelta(days=1)
    person = PersonFactory(end_date=yesterday, status=PersonStatus.ACTIVE)
    before = AuditEvent.objects.count()

    result = refresh_person_statuses()  # enqueues: the consumer thread runs it
    assert outcomes.wait(result.id) == (SIGNAL_COMPLETE, ())

    person.refresh_from_db()
    assert person.status == PersonStatus.TERMINATED
    events = list(AuditEvent.objects.order_by("id")[before:])
    assert [(e.object_type, e.object_id, e.action, e.source) for e in events] == [
        ("directory.person", str(person.pk), "update", Source.JOB)
    ]
    assert events[0].actor_label == "job:refresh_person_statuses"
    assert events[0].changes["status"] == [PersonStatus.ACTIVE, PersonStatus.TERMINATED]


# transaction: the consumer thread must see committed rows. The flush after it re-runs the post-migrate
# handlers, which restore what every later test needs (roles, the audit chain head, the desk's defaults).
@pytest.mark.django_db(transaction=True)
def test_job_runs_on_the_sqlite_queue_and_is_audited_as_a_job(tmp_path):
    with running_consumer(
        SqliteStorage(name=queue_name(), filename=str(tmp_path / "huey.sqlite3"))
    ) as outcomes:
        assert_job_runs_and_is_audited(outcomes)


@pytest.mark.django_db(transaction=True)
def test_job_runs_on_the_redis_queue_and_is_audited_as_a_job():
    if not settings.REDIS_URL:
        pytest.skip("REDIS_URL is not set: `make test` sets it when Redis answers")
    assert settings.HUEY["huey_class"] == "huey.RedisHuey"
    storage = RedisStorage(name=queue_name(), url=settings.REDIS_URL)
    storage.conn.ping()  # REDIS_URL set but unreachable is a failure, not a skip
    with running_consumer(storage) as outcomes:
        assert_job_runs_and_is_audited(outcomes)


# --- gatehouse serve ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def serve_env(tmp_path_factory) -> dict[str, str]:
    """A migrated file database of its own, DEBUG off, the SQLite queue."""
    data_dir = tmp_path_factory.mktemp("serve")
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "GATEHOUSE_DEBUG"}}
    env.update(GATEHOUSE_DATA_DIR=str(data_dir), GATEHOUSE_HUEY_NAME=queue_name(), PYTHONUNBUFFERED="1")
    subprocess.run(
        [sys.executable, "-m", "gatehouse.manage", "migrate", "--no-input", "-v0"],
        env=env,
        cwd=PROJECT_DIR,
        check=True,
        timeout=300,
    )
    return env


@contextmanager
def serving(env: dict[str, str], port: int) -> Iterator[tuple[subprocess.Popen, dict[str, int]]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "gatehouse.manage", "serve", "--port", str(port), "--web-workers", "1"],
        env=env,
        cwd=PROJECT_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 60
        for line in process.stdout:
            if line.startswith("Started "):  # "Started the web server (gunicorn) as pid N and ..."
                pids = {
                    "web": int(line.split("pid ")[1].split()[0]),
                    "worker": int(line.split("pid ")[2].split()[0].rstrip(".")),
                }
            if "press Ctrl-C to stop both" in line:
                break
            assert time.monotonic() < deadline, "serve did not start within 60s"
        else:
            pytest.fail(f"serve exited with {process.wait()} before it was ready")
        yield process, pids
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in pids.values():  # never leave a server behind, whatever the test did
            if not gone(pid):
                os.kill(pid, signal.SIGKILL)


def get(url: str) -> tuple[int, str, bytes]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_serve_runs_web_and_worker_and_ctrl_c_stops_both(serve_env):
    port = free_port()
    with serving(serve_env, port) as (process, pids):
        assert set(pids) == {"web", "worker"}
        base = f"http://127.0.0.1:{port}"
        # DEBUG is off: WhiteNoise serves the static files straight from the finders, no collectstatic.
        status, content_type, body = get(f"{base}/static/vendor/htmx/htmx.min.js")
        assert (status, content_type.split(";")[0]) == (200, "text/javascript")
        assert b"htmx" in body
        status, content_type, body = get(f"{base}/static/vendor/pico/pico.min.css")
        assert (status, content_type.split(";")[0]) == (200, "text/css")
        status, content_type, body = get(f"{base}/api/v1/openapi.json")
        assert status == 200 and b'"openapi"' in body

        process.send_signal(signal.SIGINT)
        rest = process.communicate(timeout=30)[0]
    assert process.returncode == 0, rest
    assert "Stopping the web server and the worker" in rest
    assert gone(pids["web"]) and gone(pids["worker"])


def test_serve_stops_the_web_server_when_the_worker_dies_and_says_so(serve_env):
    with serving(serve_env, free_port()) as (process, pids):
        os.kill(pids["worker"], signal.SIGKILL)
        rest = process.communicate(timeout=30)[0]
    assert process.returncode == 1
    assert (
        "The worker (gatehouse run_huey) stopped (killed by SIGKILL); stopping the web server (gunicorn)"
        in rest
    )
    assert gone(pids["web"])


@pytest.mark.skipif(sys.platform != "linux", reason="the children follow a killed parent on Linux only")
def test_serve_children_do_not_outlive_a_killed_supervisor(serve_env):
    with serving(serve_env, free_port()) as (process, pids):
        process.kill()  # no chance to stop its children
        process.wait()
        deadline = time.monotonic() + 30
        while not (gone(pids["web"]) and gone(pids["worker"])) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert gone(pids["web"]) and gone(pids["worker"])


def test_serve_refuses_a_port_in_use(serve_env):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "gatehouse.manage", "serve", "--port", str(port)],
            env=serve_env,
            cwd=PROJECT_DIR,
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1
    assert f"Cannot listen on 127.0.0.1 port {port}" in result.stderr
    assert "make run PORT=8765" in result.stderr
