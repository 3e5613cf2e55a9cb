"""A sweep killed with SIGKILL mid-run resumes: every session ends up stored exactly once,
interrupted conversations continue from their stored turns, and the SQLite file is intact."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from simgap.models import SessionStatus
from simgap.store import Store
from tests.fakes.openai_server import Reply
from tests.sessions.helpers import idle_agent, n_user_turns

TASKS = ["0", "1", "2", "3", "4", "5"]


def chatty_customer(req: dict[str, Any]) -> Reply:
    """Five messages, then stop: long enough conversations to be killed in the middle of."""
    k = n_user_turns(req)
    return Reply.text(
        "Thanks, bye. ###STOP###" if k >= 4 else f"Message {k}: my reservation please."
    )


def _cmd(db: Path, agent_url: str, user_url: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "simgap",
        "run",
        "--domain",
        "airline",
        "--task-ids",
        ",".join(TASKS),
        "--trials",
        "2",
        "--user",
        "tau2",
        "--user-model",
        "openai/user",
        "--user-api-base",
        user_url,
        "--agent",
        "openai/agent",
        "--agent-api-base",
        agent_url,
        "--concurrency",
        "3",
        "--out",
        str(db),
    ]


def _turn_count(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db, timeout=5) as c:
            return int(c.execute("select count(*) from turns").fetchone()[0])
    except sqlite3.Error:
        return 0


def test_sigkill_then_resume_loses_nothing(tmp_path: Path, fake_openai_factory) -> None:  # type: ignore[no-untyped-def]
    agent = fake_openai_factory(responder=idle_agent, latency_s=0.05)
    user = fake_openai_factory(responder=chatty_customer, latency_s=0.05)
    db = tmp_path / "runs.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        _cmd(db, agent.base_url, user.base_url),
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 120
    while _turn_count(db) < 25 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, (
        f"run ended before it could be killed: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}"
    )
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)

    with sqlite3.connect(db) as c:
        assert c.execute("pragma integrity_check").fetchone()[0] == "ok"
    store = Store(db)
    interrupted = {
        s.session_id: s.turns for s in store.iter_sessions() if s.status == SessionStatus.RUNNING
    }
    assert interrupted, "the kill should have caught sessions mid-conversation"

    done = subprocess.run(
        _cmd(db, agent.base_url, user.base_url),
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resuming" in done.stdout

    sessions = list(Store(db).iter_sessions())
    assert len(sessions) == len(TASKS) * 2
    assert len({s.session_id for s in sessions}) == len(sessions)
    for s in sessions:
        assert s.status == SessionStatus.DONE, (s.session_id, s.status, s.error)
        assert [t.idx for t in s.turns] == list(range(len(s.turns)))
        assert s.turns[-1].content and "###STOP###" in s.turns[-1].content
    by_id = {s.session_id: s for s in sessions}
    for sid, before in interrupted.items():
        after = by_id[sid].turns
        # continued, not restarted: the turns stored before the kill are still there, unchanged
        assert after[: len(before)] == before
    with sqlite3.connect(db) as c:
        assert c.execute("pragma integrity_check").fetchone()[0] == "ok"


@pytest.mark.soak  # 21 starts of `simgap run` (~8 s of CPU each): CI's soak step runs it
def test_twenty_random_sigkills_lose_nothing(tmp_path: Path, fake_openai_factory) -> None:  # type: ignore[no-untyped-def]
    """SIGKILL the runner 20 times at random moments while it works, then let it finish."""
    import random

    rng = random.Random(2026)
    agent = fake_openai_factory(responder=idle_agent, latency_s=0.03)
    user = fake_openai_factory(responder=chatty_customer, latency_s=0.03)
    db = tmp_path / "runs.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    cmd = _cmd(db, agent.base_url, user.base_url)
    cmd[cmd.index("--trials") + 1] = "4"
    kills = 0
    for _ in range(20):
        before = _turn_count(db)
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while _turn_count(db) <= before and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 1.0))  # a random point while it is writing turns
        if proc.poll() is not None:
            break  # it finished everything before this kill
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        kills += 1
        with sqlite3.connect(db) as c:
            assert c.execute("pragma integrity_check").fetchone()[0] == "ok"
    assert kills >= 10, f"only {kills} kills landed before the sweep finished"
    final = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, final.stderr[-2000:]
    sessions = list(Store(db).iter_sessions())
    assert len(sessions) == len(TASKS) * 4 == len({s.session_id for s in sessions})
    for s in sessions:
        assert s.status == SessionStatus.DONE, (s.session_id, s.error)
        assert [t.idx for t in s.turns] == list(range(len(s.turns)))
        assert sum(1 for t in s.turns if t.content and "###STOP###" in t.content) == 1
    print(f"\n{kills} SIGKILLs, {len(sessions)} sessions, 0 lost, 0 duplicated")
