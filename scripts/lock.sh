#!/usr/bin/env bash
# `make lock`: regenerate constraints.txt in a fresh virtual environment, so it pins exactly what
# pyproject.toml resolves to today: every dependency, the dev tools (pytest, ruff, playwright) included.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-python3}
scripts/check-tools.sh python "$python" /nonexistent

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gatehouse-lock.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
"$python" -m venv "$tmp/venv"
"$tmp/venv/bin/python" -m pip install --quiet --disable-pip-version-check -e '.[dev]'
{
    echo "# The pinned lock: every package Gatehouse installs, with its exact version."
    echo "# Used as pip install -c constraints.txt -e '.[dev]' (make install). Regenerate with: make lock"
    "$tmp/venv/bin/python" -m pip freeze --exclude-editable --disable-pip-version-check
} >"$tmp/constraints.txt"
mv "$tmp/constraints.txt" constraints.txt
echo "constraints.txt: $(grep -vc '^#' constraints.txt) packages pinned"
