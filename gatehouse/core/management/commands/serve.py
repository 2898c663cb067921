"""`gatehouse serve`: the web server and the background worker together, for a trial or a single machine.

Two child processes: gunicorn serving gatehouse.wsgi (docs/decisions/0002-web-server.md) and Huey's consumer
(`gatehouse run_huey`). Ctrl-C or SIGTERM stops both gracefully; if either stops by itself, the other is
stopped too and the command says which one died. Larger installs run the two separately (docs/configuration.md).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass

from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from gatehouse.core.management.base import GatehouseCommand

STARTUP_TIMEOUT = 60  # seconds for the web server to start listening
STOP_TIMEOUT = 15  # seconds each child gets to finish before it is killed


@dataclass
class Child:
    label: str  # what the person reading the terminal calls it
    stop_signal: int  # the graceful stop of this program
    process: subprocess.Popen


class Command(GatehouseCommand):
    help = (
        "Run the web server (gunicorn) and the background worker (Huey) together until Ctrl-C. "
        "What `make run` starts."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="Address to listen on (default 127.0.0.1).")
        parser.add_argument("--port", type=int, default=8000, help="Port to listen on (default 8000).")
        parser.add_argument(
            "--web-workers",
            type=int,
            default=int(os.environ.get("GATEHOUSE_WEB_WORKERS", "2")),
            help="gunicorn worker processes (default 2, or GATEHOUSE_WEB_WORKERS); each runs 4 threads.",
        )
        parser.add_argument(
            "--demo-if-empty",
            action="store_true",
            help="Load the demo company first when the database holds no people and no sign-ins yet.",
        )

    def handle(self, *args, host: str, port: int, web_workers: int, demo_if_empty: bool, **options):
        if not 1 <= port <= 65535:
            raise CommandError(f"--port {port}: give a port between 1 and 65535.")
        if web_workers < 1:
            raise CommandError(f"--web-workers {web_workers}: give at least 1.")
        self._check_migrated()
        if demo_if_empty and _database_is_empty():
            self.stdout.write("First run: loading the demo company (gatehouse demo).")
            call_command("demo", stdout=self.stdout, stderr=self.stderr)
        sign_in = _demo_sign_in()
        connection.close()  # the children open their own; this process only supervises them
        _check_port_free(host, port)

        self._stop_requested = 0
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, self._request_stop)
        children = [
            _start(
                "web server (gunicorn)",
                signal.SIGTERM,  # gunicorn: TERM finishes the requests in flight, INT drops them
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "--bind",
                    _bind_address(host, port),
                    "--workers",
                    str(web_workers),
                    "--worker-class",
                    "gthread",
                    "--threads",
                    "4",
                    "--graceful-timeout",
                    str(STOP_TIMEOUT - 5),
                    "--access-logfile",
                    "-",
                    "--no-control-socket",  # gunicorn 27 would open one in ~/.gunicorn, shared by every install
                    "gatehouse.wsgi:application",
                ],
            ),
            _start(
                "worker (gatehouse run_huey)",
                signal.SIGINT,  # Huey: INT lets running tasks finish, TERM interrupts them
                [sys.executable, "-m", "gatehouse.manage", "run_huey"],
            ),
        ]
        web, worker = children
        self.stdout.write(
            f"Started the {web.label} as pid {web.process.pid} and the {worker.label} as pid {worker.process.pid}."
        )
        try:
            self._supervise(children, host, port, sign_in)
        finally:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C stops waiting
            _stop_all(children)

    def _check_migrated(self) -> None:
        executor = MigrationExecutor(connection)
        if executor.migration_plan(executor.loader.graph.leaf_nodes()):
            raise CommandError("The database is not up to date: run `gatehouse migrate` first.")

    def _request_stop(self, signum, frame) -> None:
        self._stop_requested += 1

    def _supervise(
        self, children: list[Child], host: str, port: int, sign_in: tuple[str, str] | None
    ) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        started = False
        while not self._stop_requested:
            for child in children:
                code = child.process.poll()
                if code is not None:
                    others = ", ".join(c.label for c in children if c is not child)
                    raise CommandError(
                        f"The {child.label} stopped{_exit_reason(code)}; stopping the {others}. "
                        "Its messages above say why."
                    )
            if not started:
                if _listening(host, port):
                    started = True
                    self._announce(host, port, sign_in)
                elif time.monotonic() > deadline:
                    raise CommandError(
                        f"The web server did not start listening on port {port} within {STARTUP_TIMEOUT}s."
                    )
            time.sleep(0.2)
        self.stdout.write("Stopping the web server and the worker...")

    def _announce(self, host: str, port: int, sign_in: tuple[str, str] | None) -> None:
        url = f"http://{_browser_host(host)}:{port}/"
        lines = ["", f"Gatehouse is running at {url}"]
        if host in ("0.0.0.0", "::"):
            lines.append(f"(listening on every address of this machine on port {port})")
        if sign_in:
            lines.append(
                f"Sign in as {sign_in[0]} with password {sign_in[1]} (all demo sign-ins: docs/demo.md)."
            )
        else:
            lines.append(
                "Sign in with your Gatehouse account (`gatehouse createsuperuser` makes the first one)."
            )
        lines += ["Web server and worker are running; press Ctrl-C to stop both.", ""]
        self.stdout.write("\n".join(lines))
        self.stdout.flush()


def _start(label: str, stop_signal: int, argv: list[str]) -> Child:
    # Each child gets its own process group: Ctrl-C reaches only this supervisor, which then stops the
    # children in order with their own graceful signal (a second INT would make Huey drop running tasks).
    preexec = _die_with_parent if sys.platform == "linux" else None
    return Child(label, stop_signal, subprocess.Popen(argv, start_new_session=True, preexec_fn=preexec))


def _die_with_parent() -> None:
    """Linux: the child gets SIGTERM if the supervisor dies without stopping it (kill -9), never orphaned."""
    import ctypes

    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_all(children: list[Child]) -> None:
    for child in children:
        if child.process.poll() is None:
            child.process.send_signal(child.stop_signal)
    deadline = time.monotonic() + STOP_TIMEOUT
    for child in children:
        try:
            child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            sys.stderr.write(f"The {child.label} did not stop within {STOP_TIMEOUT}s; killing it.\n")
            child.process.kill()
            child.process.wait()
        except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
            for other in children:
                if other.process.poll() is None:
                    other.process.kill()
            raise


def _exit_reason(code: int) -> str:
    if code < 0:
        try:
            return f" (killed by {signal.Signals(-code).name})"
        except ValueError:
            return f" (killed by signal {-code})"
    return f" with exit code {code}"


def _database_is_empty() -> bool:
    from gatehouse.directory.models import Person
    from gatehouse.users.models import User

    return not Person.objects.exists() and not User.objects.exists()


def _demo_sign_in() -> tuple[str, str] | None:
    """The demo's first sign-in, if it exists here and still has the demo password."""
    from django.contrib.auth.hashers import check_password

    from gatehouse.demo.services import read_data
    from gatehouse.users.models import User

    accounts = read_data("users.yml")
    username, password = accounts["users"][0]["username"], accounts["password"]
    stored = User.objects.filter(username=username).values_list("password", flat=True).first()
    # hashers.check_password with no setter: only reads, never re-hashes or saves the user
    if stored and check_password(password, stored):
        return username, password
    return None


def _bind_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _browser_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _connect_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"Cannot listen on {host} port {port}: {exc.strerror}. Stop what uses it, or pick another "
                f"port: `make run PORT=8765` or `gatehouse serve --port 8765`."
            ) from exc


def _listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((_connect_host(host), port), timeout=0.5):
            return True
    except OSError:
        return False
