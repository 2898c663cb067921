#!/usr/bin/env bash
# Checks what `make install` needs, with a message that says what to do when something is missing.
set -euo pipefail

fail() {
    printf '\nmake: %s\n\n' "$*" >&2
    exit 1
}

case "${1:-}" in
python)
    python=${2:-python3} venv=${3:-.venv}
    command -v "$python" >/dev/null 2>&1 \
        || fail "Gatehouse needs Python 3.11 or newer, and '$python' was not found. Install Python 3.11+, or name it: make run PYTHON=python3.12"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || fail "Gatehouse needs Python 3.11 or newer; '$python' is $("$python" -c 'import platform; print(platform.python_version())'). Install a newer Python and name it: make run PYTHON=python3.12"
    if [[ -x "$venv/bin/python" ]]; then
        "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
            || fail "$venv was made with Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'); Gatehouse needs 3.11+. Remove it (rm -rf $venv) and run make again."
    fi
    ;;
venv-failed)
    fail "'${2:-python3} -m venv' failed. On Debian or Ubuntu install the venv module (apt-get install python3-venv) and run make again."
    ;;
node)
    command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 \
        || fail "Gatehouse needs Node.js 18 or newer with npm, to install its front-end packages (htmx, Pico CSS, Swagger UI) from package-lock.json. Install Node.js 18+ (nodejs.org, or your package manager: apt-get install nodejs npm, brew install node) and run make again."
    node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 18 ? 1 : 0)' \
        || fail "Gatehouse needs Node.js 18 or newer; node is $(node --version). Install a newer Node.js and run make again."
    ;;
*)
    fail "check-tools.sh: unknown check '${1:-}'"
    ;;
esac
