#!/usr/bin/env bash
# The project's test command (README, second command; CI runs it through .ci/run).
# On a fresh Debian machine it installs what the browser and PostgreSQL tests need (Debian's
# chromium and postgresql), creates .venv with the project and its test extras, then runs pytest
# on one pytest-xdist worker per core, long tests first (tests/plugins/schedule.py), without the
# `soak` tests (two-node Ray cluster, twenty SIGKILLs: minutes of process starts); `-m soak`
# runs those, `-m ""` everything (CI runs both steps: .ci/run).
# Extra arguments go to pytest (`-n 0` runs in one process). pytest's "no tests collected"
# (exit 5) is a failure here.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql)
if ((${#need[@]})); then
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    echo "installing Debian packages: ${need[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# llama-cpp-python is built from source: leave out what simgap never loads (docs/install.md)
export CMAKE_ARGS="${CMAKE_ARGS:--DLLAVA_BUILD=OFF -DCMAKE_PROJECT_llama.cpp_INCLUDE=$PWD/scripts/llama-lean.cmake}"
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"

set +e
.venv/bin/python -m pytest -n auto --dist loadgroup --no-loadscope-reorder -m "not soak" "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$rc"
