#!/usr/bin/env bash
# Static checks CI runs (.ci/run) before the tests: ruff's lint and format check on everything
# Python in the repository (src, tests, benchmarks) and mypy --strict on src/ (configuration in
# pyproject.toml). Uses .venv (scripts/test.sh creates it). All three run; any failure fails.
set -uo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin
rc=0
echo "== ruff check src tests benchmarks"
"$py/ruff" check src tests benchmarks || rc=1
echo "== ruff format --check src tests benchmarks"
"$py/ruff" format --check src tests benchmarks || rc=1
echo "== mypy --strict src"
"$py/mypy" --strict src || rc=1
exit "$rc"
