"""The load script runs end to end (tiny: 3 participants) and checks the store itself."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_load_script_smoke(tmp_path: Path) -> None:
    out = tmp_path / "load.json"
    r = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "load_study.py"),
            "-n",
            "3",
            "--messages",
            "1",
            "--think",
            "0.1",
            "--read",
            "0.1",
            "--timeout",
            "120",
            "--json",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    res = json.loads(out.read_text())
    assert res["finished"] == 3 and res["sessions_done"] == 3 and res["questionnaires"] == 3
    assert "POST /p/chat/send" in res["pages"] and res["all_pages"]["p95"] > 0
