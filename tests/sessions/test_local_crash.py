"""A native crash of the embedded model fails one session, not the run (issue 9).

`simgap run` with the embedded model as the agent, in a subprocess (before the fix, a crash in
llama.cpp killed the whole process: exit 139, nothing after it ran). The worker is made to
crash for real once (SIGSEGV in native code, `SIMGAP_FAULT_LOCAL_SEGV`). Expected: the run
exits normally, exactly one session is stored as failed with a one-line cause naming the
signal, the other session finishes, and rerunning the same command retries the failed one.

The sessions are τ²'s `mock` domain: the crash is in the model, not the domain, and mock's short
policy keeps the prompts ~6x smaller than airline's (a run costs ~18 s of CPU, not ~70).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from simgap.llm.local_worker import FAULT_SEGV_ENV
from simgap.models import SessionStatus
from simgap.store import Store

pytestmark = pytest.mark.slow


def _run(db: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    args = ["-d", "mock", "-n", "2", "-u", "behavior", "-a", "local", "--max-steps", "4"]
    return subprocess.run(
        [sys.executable, "-m", "simgap.cli.app", "run", *args, "--out", str(db)],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
        check=False,
    )


def test_a_segfault_in_the_embedded_model_fails_one_session_and_the_run_goes_on(
    tmp_path: Path,
) -> None:
    db = tmp_path / "runs.db"
    marker = tmp_path / "segv-once"
    marker.touch()
    env = {**os.environ, "SIMGAP_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200"}
    first = _run(db, {**env, FAULT_SEGV_ENV: str(marker)})
    assert first.returncode == 0, first.stdout + first.stderr
    assert not marker.exists()  # the crash happened
    store = Store(db)
    sessions = list(store.iter_sessions())
    store.close()
    assert len(sessions) == 2
    failed = [s for s in sessions if s.status != SessionStatus.DONE]
    assert len(failed) == 1
    assert failed[0].termination is not None and failed[0].termination.value == "infra_error"
    cause = failed[0].error or ""
    assert "\n" not in cause and "signal 11, SIGSEGV" in cause, cause
    printed = " ".join(first.stdout.split())
    assert "1 completed" in printed and "1 infrastructure errors pending retry" in printed
    assert "rerun the same command to retry the sessions with infrastructure errors" in printed

    again = _run(db, env)
    assert again.returncode == 0, again.stdout + again.stderr
    store = Store(db)
    after = {s.session_id: s for s in store.iter_sessions()}
    store.close()
    assert len(after) == 2 and all(s.status == SessionStatus.DONE for s in after.values())
    assert after[failed[0].session_id].reward is not None
