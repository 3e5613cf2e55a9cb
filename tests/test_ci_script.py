"""CI runs every test: the README's command (scripts/test.sh) leaves the `soak` tests out, so
.ci/run must run them in a step of their own, and `-m soak` must select them."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _test_sh_steps() -> list[list[str]]:
    """The argument lists .ci/run passes to scripts/test.sh, in order."""
    steps = []
    for line in (ROOT / ".ci" / "run").read_text().splitlines():
        words = shlex.split(line, comments=True)
        if "scripts/test.sh" in words:
            steps.append(words[words.index("scripts/test.sh") + 1 :])
    return steps


def _marker_expr(args: list[str]) -> str | None:
    return args[args.index("-m") + 1] if "-m" in args else None


def test_ci_runs_the_readme_command_then_the_soak_tests() -> None:
    script = (ROOT / "scripts" / "test.sh").read_text()
    assert re.search(r'pytest .*-m "not soak" "\$@"', script), "the default leaves soak out"
    readme = (ROOT / "README.md").read_text()
    assert "\nbash scripts/test.sh\n" in readme  # the README's test command, verbatim
    runs = [s for s in _test_sh_steps() if "--version" not in s]
    assert [_marker_expr(s) for s in runs] == [None, "soak"], runs


def test_soak_selects_the_soak_tests_and_the_default_leaves_them_out() -> None:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    files = ["tests/sessions/test_kill_resume.py", "tests/sessions/test_ray_cluster.py"]

    def collected(expr: str) -> set[str]:
        cmd = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
        r = subprocess.run(
            [*cmd, "-n", "0", "-m", expr, *files],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert r.returncode == 0, r.stdout + r.stderr
        return {ln for ln in r.stdout.splitlines() if "::" in ln}

    soak, rest = collected("soak"), collected("not soak")
    assert soak == {
        "tests/sessions/test_kill_resume.py::test_twenty_random_sigkills_lose_nothing",
        "tests/sessions/test_ray_cluster.py::test_two_node_ray_cluster_through_the_cli",
    }
    assert rest == {"tests/sessions/test_kill_resume.py::test_sigkill_then_resume_loses_nothing"}
