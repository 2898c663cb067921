#!/usr/bin/env bash
# `make test`: ruff, pytest on SQLite (browser tests included), then pytest on PostgreSQL.
#
# PostgreSQL, Redis and Chromium are used when present; on a machine without them their part is skipped
# with a line saying so. Under CI=true they must be there: Chromium is installed when missing, and an
# unreachable PostgreSQL or Redis fails the run, because CI has to test them for real.
# Every part runs even after one fails; the exit code says whether any did. docs/development.md.
set -uo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
py=$VENV/bin/python
postgres_url=${GATEHOUSE_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
redis_url=${GATEHOUSE_TEST_REDIS_URL:-redis://127.0.0.1:6379/0}
ci=false
case "${CI:-}" in true | TRUE | 1 | yes) ci=true ;; esac

say() { printf '== %s\n' "$*"; }
failed=()

# Test runs keep their files (secret key, Huey queue) out of ./var/ and name their own queue and
# PostgreSQL database: they neither touch a running `make run` nor collide with a parallel run.
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
run_id="$(date +%Y%m%d%H%M%S)_$$"
export GATEHOUSE_DATA_DIR=$tmp/var GATEHOUSE_HUEY_NAME=gatehouse-test-$run_id
unset DATABASE_URL REDIS_URL GATEHOUSE_TEST_DB_NAME GATEHOUSE_HUEY_IMMEDIATE

# --- lint -----------------------------------------------------------------------------------------------
say "ruff check"
"$VENV/bin/ruff" check . || failed+=("ruff check")
say "ruff format --check"
"$VENV/bin/ruff" format --check --output-format concise . || failed+=("ruff format (make format fixes it)")

# --- what this machine has ------------------------------------------------------------------------------
postgres_ok=false redis_ok=false chromium=""
probe() { # python code that connects to sys.argv[1]; on failure, its first line of error goes to stderr
    "$py" -c "import sys
try:
    $1
except Exception as exc:
    sys.exit(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)" "$2"
}
probe 'import psycopg; psycopg.connect(sys.argv[1], connect_timeout=3).close()' "$postgres_url" \
    2>"$tmp/postgres.err" && postgres_ok=true
probe 'import redis; redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()' "$redis_url" \
    2>"$tmp/redis.err" && redis_ok=true

find_chromium() {
    local candidate path
    for candidate in "${CHROMIUM:-}" chromium chromium-browser /usr/bin/chromium; do
        [[ -n $candidate ]] || continue
        path=$(command -v "$candidate" 2>/dev/null) || continue
        # Ubuntu's chromium-browser can be a stub that asks for snap: it must really start.
        "$path" --version >/dev/null 2>&1 && { echo "$path"; return 0; }
    done
    return 1
}
chromium=$(find_chromium) || chromium=""
if [[ -z $chromium ]] && $ci; then
    as_root=""
    if [[ $(id -u) != 0 ]]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then as_root="sudo -n"; else as_root=none; fi
    fi
    if [[ $as_root != none ]] && command -v apt-get >/dev/null 2>&1; then
        say "CI: Chromium is missing; installing it (apt-get install -y chromium)"
        { $as_root apt-get update -qq \
            && $as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } >"$tmp/apt.log" 2>&1 \
            || tail -20 "$tmp/apt.log"
        chromium=$(find_chromium) || chromium=""
    fi
fi

sqlite_args=()
if [[ -n $chromium ]]; then
    export GATEHOUSE_CHROMIUM=$chromium
    say "Chromium: $chromium ($("$chromium" --version 2>/dev/null)); browser tests run in the SQLite pass"
elif $ci; then
    say "FAIL: Chromium is not installed and could not be installed (apt-get install -y chromium as root)"
    failed+=("browser tests (no Chromium under CI=true)")
    sqlite_args=(-m "not browser")
else
    say "SKIPPING the browser tests: Chromium was not found (install it: apt-get install chromium, or set CHROMIUM=/path/to/chromium)"
    sqlite_args=(-m "not browser")
fi

if $redis_ok; then
    export REDIS_URL=$redis_url
    say "Redis: $redis_url answers; both pytest passes use it for the worker (REDIS_URL)"
elif $ci; then
    say "FAIL: Redis at $redis_url is not reachable and CI=true: CI must test the worker on Redis ($(tail -1 "$tmp/redis.err"))"
    failed+=("Redis unreachable under CI")
else
    say "SKIPPING the worker tests on Redis: nothing answers at $redis_url (the SQLite queue is still tested)"
fi

if $postgres_ok; then
    say "PostgreSQL: $postgres_url answers; a second pytest pass runs on it"
elif $ci; then
    say "FAIL: PostgreSQL at $postgres_url is not reachable and CI=true: CI must test PostgreSQL ($(tail -1 "$tmp/postgres.err"))"
    failed+=("PostgreSQL unreachable under CI")
else
    say "SKIPPING the PostgreSQL pass: nothing answers at $postgres_url (set GATEHOUSE_TEST_POSTGRES_URL to use another server)"
fi

# --- pytest ---------------------------------------------------------------------------------------------
record() { # label, exit code
    if (($2 == 5)); then
        say "FAIL: $1 ran no tests"
        failed+=("$1 (no tests ran)")
    elif (($2 != 0)); then
        failed+=("$1")
    fi
}

# The two passes run side by side (one per core): the PostgreSQL pass in the background, its output kept in a
# file and printed after the SQLite pass. Each has its own data directory and Huey queue name, so neither
# reads the other's secret key or takes the other's jobs.
if $postgres_ok; then
    say "pytest on PostgreSQL: started in the background; its output follows the SQLite pass"
    # The browser tests check pages, not storage: once, in the SQLite pass.
    env DATABASE_URL="$postgres_url" GATEHOUSE_TEST_DB_NAME="test_gatehouse_$run_id" \
        GATEHOUSE_DATA_DIR="$tmp/var-postgres" GATEHOUSE_HUEY_NAME="$GATEHOUSE_HUEY_NAME-postgres" \
        "$py" -m pytest -p no:cacheprovider -m "not browser" >"$tmp/postgres.log" 2>&1 &
    postgres_pid=$!
fi

say "pytest on SQLite"
GATEHOUSE_DATA_DIR="$tmp/var-sqlite" "$py" -m pytest ${sqlite_args[@]+"${sqlite_args[@]}"}
record "pytest on SQLite" $?

if $postgres_ok; then
    wait "$postgres_pid"
    code=$?
    say "pytest on PostgreSQL"
    cat "$tmp/postgres.log"
    record "pytest on PostgreSQL" $code
fi

if ((${#failed[@]})); then
    printf '\n== make test FAILED: %s\n' "$(IFS=';'; echo "${failed[*]}")"
    exit 1
fi
