"""`simgap demo` end to end, offline, with a reduced task count.

It runs from EMPTY caches (its own response cache and XDG_CACHE_HOME): the embedded model is
really called, as a customer and for the questionnaire. A warm cache once hid a segmentation
fault that every new user hit (issue 9). The agent is the model-free `probe` (issue 16).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.metrics.table import is_synthetic_session
from simgap.store import Store


@pytest.mark.slow
@pytest.mark.timeout(1500)  # ~5 min alone on 2 cores, cold; more when the machine is shared
def test_demo_runs_end_to_end_and_labels_the_reference_synthetic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "empty-xdg"))
    out = tmp_path / "demo"
    args = ["demo", "--out", str(out), "--tasks", "2", "--max-steps", "40", "--bootstrap", "50"]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "SYNTHETIC stand-in" in text
    assert f"report: {(out / 'report.html').resolve()}" in text
    assert (out / "report.html").is_file() and (out / "report.md").is_file()
    # cold: every session call went to the embedded model, none came from a cache
    calls = re.search(
        r"session model calls: (\d+) \((\d+) to the embedded model, (\d+) served", text
    )
    assert calls is not None, text
    assert int(calls.group(2)) > 0 and int(calls.group(3)) == 0
    # the printed leaderboard has every simulator
    for name in ("local", "behavior"):
        assert re.search(rf"│ \d+ │ {name}\b[^│]*│ probe\b", r.output), r.output
    assert "agent: probe (model-free, gold-informed, information-gated instrument)" in text

    store = Store(out / "runs.db")
    sessions = list(store.iter_sessions())
    by_user: dict[str, int] = {}
    for s in sessions:
        by_user[s.user_id] = by_user.get(s.user_id, 0) + 1
    # two tasks: the parametric simulator on both, the embedded one on the first (--llm-tasks
    # 1), the stand-in once per batch
    assert by_user == {"local": 1, "behavior": 2, "standin": 6}
    assert all(s.status.value == "done" and s.reward is not None for s in sessions)
    assert all(s.agent.name == "probe" and s.agent.model == "none" for s in sessions)
    # most sessions end by the customer or the task, not the step limit (the 135M customer
    # never says ###STOP###: its session is the one that reaches the limit)
    by_limit = [
        s for s in sessions if s.termination is not None and s.termination.value == "max_steps"
    ]
    assert len(by_limit) <= 0.2 * len(sessions), [(s.user_id, s.task_id) for s in by_limit]
    standin = [s for s in sessions if s.user_id == "standin"]
    assert all(is_synthetic_session(s) for s in standin)
    assert {s.batch for s in standin} == {"synthetic-b1", "synthetic-b2", "synthetic-b3"}
    answered = {f.session_id for f in store.get_feedback()}
    # parametric simulators always answer; the 135M model's answers may fail validation, and
    # then the demo says so (nothing partial is stored)
    assert {s.session_id for s in sessions if s.user_id in ("behavior", "standin")} <= answered
    for s in sessions:
        if s.session_id not in answered:
            assert f"{s.user_id}: 0 of 1 answered, 1 failed" in text
    store.close()

    score = json.loads((out / "usi_scores.json").read_text())
    assert score["reference"]["synthetic"] is True
    assert sorted(r["label"] for r in score["rows"]) == ["behavior", "local"]
    assert all(r["agents"] == ["probe"] for r in score["rows"])
    assert score["ceiling"] is not None
    for row in score["rows"]:
        usi = row["usi"]["value"]
        assert usi is None or 0.0 <= usi <= 100.0
        # pass^k: one trial per simulator gives pass^1 only; the stand-in has 3 tries a task
        assert [p["k"] for p in row["pass_k"]] == [1]
    assert [p["k"] for p in score["reference"]["pass_k"]] == [1, 2, 3]
    assert "pass^k" in text and "Reliability: pass^k" in (out / "report.md").read_text()

    html = (out / "report.html").read_text()
    assert "synthetic-banner" in html and "NOT human data" in html
    # opens offline: no script or stylesheet is fetched from the network (plotly's bundle
    # merely mentions its CDN as a default topojson URL)
    assert re.search(r"<(?:script|link)[^>]+(?:src|href)=\"https?://", html) is None
    md = (out / "report.md").read_text()
    assert "synthetic" in md.lower()

    # rerun resumes: nothing left to run, same sessions
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    store = Store(out / "runs.db")
    assert store.count_sessions() == len(sessions)
    store.close()
