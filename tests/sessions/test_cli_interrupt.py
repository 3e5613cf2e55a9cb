"""Ctrl-C on `simgap run` (local engine): exit 130 and the resume hint on one line, never a
traceback; the rerun resumes and finishes. (The same on `--engine ray`: test_ray_cluster.py.)"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from simgap.models import SessionStatus
from simgap.store import Store
from tests.fakes.cli import as_typed_in_a_terminal
from tests.sessions.helpers import idle_agent
from tests.sessions.test_kill_resume import _cmd, _turn_count, chatty_customer


def test_ctrl_c_exits_130_with_the_resume_hint(tmp_path: Path, fake_openai_factory) -> None:  # type: ignore[no-untyped-def]
    agent = fake_openai_factory(responder=idle_agent, latency_s=0.1)
    user = fake_openai_factory(responder=chatty_customer, latency_s=0.1)
    db = tmp_path / "runs.db"
    cmd = _cmd(db, agent.base_url, user.base_url)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        as_typed_in_a_terminal(cmd),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120
    while _turn_count(db) < 10 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "the run ended before Ctrl-C"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, out[-1000:] + err[-1000:]
    assert "Traceback" not in out + err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines == ["interrupted: finished work is stored; rerun the same command to resume"]
    with sqlite3.connect(db) as c:
        assert c.execute("pragma integrity_check").fetchone()[0] == "ok"

    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stdout
    sessions = list(Store(db).iter_sessions())
    assert len(sessions) == 12 and all(s.status == SessionStatus.DONE for s in sessions)
