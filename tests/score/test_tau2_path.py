"""The path a τ²-bench user takes first (issue 19 item 6): import a results.json (bad values
give one line; repeated ids are reported; per-message usage, τ²'s checks and its zone-less
local times are kept as τ² meant them), score against it as a reference (labelled a
simulator reference, never people), and export simgap sessions back to a results.json that
τ²'s own loader reads and that imports back to the same sessions."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from simgap.models import (
    AgentSpec,
    Reward,
    Role,
    Session,
    SessionStatus,
    Termination,
    ToolCall,
    Turn,
    Usage,
    UserKind,
)
from simgap.store import Store
from simgap.store.importers import ImportFormatError, read_any, read_tau2_results
from tests.score.test_importers import tau2_results, write


def simgap(*args: str, tz: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "400"}
    if tz:
        env["TZ"] = tz
    return subprocess.run(
        [sys.executable, "-m", "simgap", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )


def one_line_error(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r.stdout[-2000:] + r.stderr[-2000:]
    assert "Traceback" not in r.stdout + r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    return lines[0]


@pytest.fixture
def new_york() -> Iterator[None]:
    """This process's local time is New York's (UTC-5 in January) for the test."""
    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()


# -- import ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("trial", "two", "simulations[0].trial: expected int, got 'two'"),
        ("agent_cost", "cheap", "simulations[0].agent_cost: expected int/float, got 'cheap'"),
        ("seed", 1.5, "simulations[0].seed: expected int, got 1.5"),
    ],
)
def test_bad_trial_or_cost_is_one_line_and_exit_2(
    tmp_path: Path, field: str, value: Any, message: str
) -> None:
    doc = tau2_results()
    doc["simulations"][0][field] = value
    p = write(tmp_path, "results.json", doc)
    with pytest.raises(ImportFormatError) as e:
        read_any(p)
    assert str(e.value) == f"{p}: {message}"
    if field == "trial":  # and through the real entry point, as a user sees it
        db = tmp_path / "runs.db"
        line = one_line_error(simgap("import", str(p), "--db", str(db)))
        assert line == f"error: {p}: {message}"
        assert not list(Store(db).iter_sessions())


def test_repeated_simulation_id_is_stored_once_and_reported(tmp_path: Path) -> None:
    doc = tau2_results()
    doc["simulations"].append(copy.deepcopy(doc["simulations"][0]))  # same id, same content
    p = write(tmp_path, "results.json", doc)
    db = tmp_path / "runs.db"
    r = simgap("import", str(p), "--db", str(db))
    assert r.returncode == 0, r.stderr
    assert "imported 2 sessions" in r.stdout
    assert "1 repeated session id(s) in the file, identical copies, stored once" in r.stdout
    assert sorted(s.session_id for s in Store(db).iter_sessions()) == ["sim-1", "sim-2"]


def test_repeated_simulation_id_with_different_content_is_refused(tmp_path: Path) -> None:
    doc = tau2_results()
    twin = copy.deepcopy(doc["simulations"][0])
    twin["reward_info"]["reward"] = 0.0
    doc["simulations"].append(twin)
    p = write(tmp_path, "results.json", doc)
    db = tmp_path / "runs.db"
    line = one_line_error(simgap("import", str(p), "--db", str(db)))
    assert "simulations[2].id: 'sim-1' is also the id of simulations[0]" in line
    assert not list(Store(db).iter_sessions())  # all or nothing


def test_store_refuses_differing_copies_and_counts_identical_ones(tmp_path: Path) -> None:
    """The same rule for any format (a JSONL with a repeated session)."""
    s = Session(
        session_id="x", task_id="1", domain="airline", user_kind=UserKind.HUMAN, user_id="p"
    )
    store = Store(tmp_path / "runs.db")
    counts = store.import_records([s, s.model_copy()])
    assert counts["sessions"] == 1 and counts["duplicates"] == 1
    from simgap.store import StoreError

    other = s.model_copy(update={"session_id": "y"})
    with pytest.raises(StoreError, match="'y' appears twice in the input with different content"):
        store.import_records([other, other.model_copy(update={"batch": "b2"})])
    assert [x.session_id for x in store.iter_sessions()] == ["x"]


def test_message_usage_and_tau2_checks_are_kept(tmp_path: Path) -> None:
    doc = tau2_results()
    sim = doc["simulations"][0]
    msgs = sim["messages"]
    msgs[1].update(usage={"prompt_tokens": 100, "completion_tokens": 9}, cost=0.004)
    msgs[3].update(usage={"prompt_tokens": 130, "completion_tokens": 20}, cost=0.006)
    msgs[2].update(usage={"prompt_tokens": 50, "completion_tokens": 7}, cost=0.0005)
    sim["reward_info"].update(
        db_check={"db_match": True, "db_reward": 1.0},
        action_checks=[
            {
                "action": {"action_id": "a0", "name": "cancel_pending_order", "arguments": {}},
                "action_match": False,
                "action_reward": 0.0,
            }
        ],
        info={"note": "checked"},
    )
    (s1, _s2) = read_tau2_results(write(tmp_path, "results.json", doc))
    agent0, user0, agent1 = s1.turns[0], s1.turns[1], s1.turns[2]
    assert agent0.usage == Usage(prompt_tokens=100, completion_tokens=9, calls=1, cost_usd=0.004)
    assert user0.usage == Usage(prompt_tokens=50, completion_tokens=7, calls=1, cost_usd=0.0005)
    assert agent1.usage is not None and agent1.usage.prompt_tokens == 130
    # session totals: tokens summed over the side's messages, dollars as τ² totalled them
    assert s1.agent_usage == Usage(prompt_tokens=230, completion_tokens=29, calls=2, cost_usd=0.01)
    assert s1.user_usage == Usage(prompt_tokens=50, completion_tokens=7, calls=1, cost_usd=0.002)
    assert s1.reward is not None
    assert s1.reward.info["db_check"] == {"db_match": True, "db_reward": 1.0}
    assert s1.reward.info["action_checks"][0]["action_match"] is False
    assert s1.reward.info["info"] == {"note": "checked"}
    assert s1.reward.breakdown == {"DB": 1.0, "COMMUNICATE": 1.0}


def test_zone_less_tau2_times_are_local_time(tmp_path: Path, new_york: None) -> None:
    doc = tau2_results()
    sim = doc["simulations"][0]
    sim["start_time"] = "2026-01-01T10:00:00"  # what τ² writes in New York: local, no zone
    sim["end_time"] = "2026-01-01T10:05:00+00:00"  # a zone given is a zone kept
    (s1, _) = read_tau2_results(write(tmp_path, "results.json", doc))
    assert s1.started_at == datetime(2026, 1, 1, 15, 0, tzinfo=UTC)
    assert s1.ended_at == datetime(2026, 1, 1, 10, 5, tzinfo=UTC)
    assert "local time" in s1.meta["zone_less_times_read_as"]


# -- score with a τ² file as the reference ----------------------------------------------------
def _tau2_run(user_llm: str, *, seed: int) -> dict[str, Any]:
    """Three airline tasks × two trials of one simulator, texts varied by `seed`."""
    import random

    rng = random.Random(seed)
    sims = []
    for task in ("0", "1", "2"):
        for trial in (0, 1):
            words = " ".join(
                rng.choice(["please", "ok", "thanks", "my", "booking", "help"])
                for _ in range(rng.randint(2, 9))
            )
            sims.append(
                {
                    "id": f"{user_llm}-{task}-{trial}",
                    "task_id": task,
                    "trial": trial,
                    "start_time": "2026-01-01T10:00:00",
                    "end_time": "2026-01-01T10:01:00",
                    "duration": 60.0,
                    "termination_reason": "user_stop",
                    "reward_info": {"reward": float(rng.random() < 0.5), "reward_basis": ["DB"]},
                    "messages": [
                        {"role": "assistant", "content": "Hi! How can I help you today?"},
                        {"role": "user", "content": f"Hello, {words}?"},
                        {"role": "assistant", "content": "Sure, let me check."},
                        {"role": "user", "content": f"Thanks. {words}. ###STOP###"},
                    ],
                }
            )
    doc = tau2_results(simulations=sims)
    doc["info"]["environment_info"]["domain_name"] = "airline"
    doc["info"]["user_info"]["llm"] = user_llm
    return doc


def test_score_against_a_tau2_results_file_calls_it_a_reference_not_people(tmp_path: Path) -> None:
    ref = write(tmp_path, "results.json", _tau2_run("gpt-4.1", seed=1))
    cand = write(tmp_path, "other.json", _tau2_run("claude-sonnet-4", seed=2))
    out = tmp_path / "score"
    r = simgap(
        "score", "-r", str(ref), "-c", str(cand), "-o", str(out), "-B", "20", "--permutations", "0"
    )
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    text = r.stdout
    assert "User-Sim Index vs reference (gpt-4.1)" in text
    assert "reference vs reference (ceiling, simulator)" in text
    assert "reference of simulators, not people" in text
    assert "people vs people" not in text and "SR hum" not in text
    assert "SR ref" in text
    doc = json.loads((out / "usi_scores.json").read_text())
    assert doc["reference"]["kind"] == "simulator"
    assert doc["reference"]["simulators"] == ["gpt-4.1"]
    assert doc["reference"]["label"] == "reference (gpt-4.1)"
    assert doc["ceiling"]["label"] == "reference vs reference (ceiling, simulator)"

    from simgap.report.html import render_html
    from simgap.report.markdown import render_markdown
    from simgap.report.scorefile import load_score

    sd = load_score(out / "usi_scores.json")
    md = render_markdown(sd)
    html = render_html(sd).html
    for page in (md, html):
        assert "people vs people" not in page and "SR people" not in page
        assert "This reference is not people" in page


# -- export to τ² and back --------------------------------------------------------------------
def _sessions() -> list[Session]:
    """Three finished airline sessions with what a round trip must keep: tool calls (one with
    unparseable arguments), tool errors, per-turn usage and meta, a τ² reward with its checks,
    simgap-only terminations, a failed session, a person."""
    t0 = datetime(2026, 1, 1, 15, 0, 0, 123456, tzinfo=UTC)

    def at(k: int) -> datetime:
        return t0 + timedelta(seconds=7 * k)

    agent = AgentSpec(name="llm", model="openai/gpt-4.1-mini", settings={"temperature": 0.0})
    turns = [
        Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?", timestamp=at(0)),
        Turn(idx=1, role=Role.USER, content="Cancel Z7GOZK please", timestamp=at(1),
             usage=Usage(prompt_tokens=40, completion_tokens=6, calls=1, cost_usd=0.0001),
             meta={"latency_s": 0.4}),
        Turn(idx=2, role=Role.AGENT, content=None, timestamp=at(2),
             tool_calls=[ToolCall(id="c1", name="cancel_reservation", arguments={"reservation_id": "Z7GOZK"}),
                         ToolCall(id="c2", name="get_user_details", arguments={}, raw_arguments='{"user_id": ')],
             usage=Usage(prompt_tokens=900, completion_tokens=30, calls=1, cached_calls=1, cost_usd=0.002)),
        Turn(idx=3, role=Role.TOOL, content='{"status": "cancelled"}', tool_call_id="c1", requestor=Role.AGENT, timestamp=at(3)),
        Turn(idx=4, role=Role.TOOL, content="Error: invalid JSON arguments", tool_call_id="c2", tool_error=True,
             requestor=Role.AGENT, timestamp=at(4)),
        Turn(idx=5, role=Role.AGENT, content="Done.", timestamp=at(5),
             usage=Usage(prompt_tokens=950, completion_tokens=3, calls=1, cost_usd=0.002)),
        Turn(idx=6, role=Role.USER, content="Thanks ###STOP###", timestamp=at(6)),
    ]  # fmt: skip
    reward = Reward(
        value=1.0,
        breakdown={"DB": 1.0},
        basis=["DB"],
        info={
            "db_check": {"db_match": True, "db_reward": 1.0},
            "action_checks": None,
            "info": None,
        },
    )
    a = Session(
        session_id="s-a", task_id="19", domain="airline", user_kind=UserKind.SIMULATOR,
        user_id="gpt-4.1", agent=agent, batch="b1", trial=0, seed=301, status=SessionStatus.DONE,
        termination=Termination.USER_STOP, reward=reward, started_at=at(0), ended_at=at(6),
        agent_usage=Usage(prompt_tokens=1850, completion_tokens=33, calls=2, cached_calls=1, cost_usd=0.004),
        user_usage=Usage(prompt_tokens=40, completion_tokens=6, calls=1, cost_usd=0.0001),
        turns=turns, meta={"max_steps": 30, "max_errors": 10, "user_preset": {"name": "gpt-4.1"}},
    )  # fmt: skip
    b = a.model_copy(
        update={
            "session_id": "s-b",
            "task_id": "0",
            "trial": 1,
            "termination": Termination.TRANSFER,
            "reward": Reward(value=0.0, basis=["DB"], info={"note": "transferred"}),
            "turns": turns[:2],
        }
    )
    c = a.model_copy(
        update={
            "session_id": "s-c",
            "user_kind": UserKind.HUMAN,
            "user_id": "P-017",
            "status": SessionStatus.FAILED,
            "termination": Termination.INFRA_ERROR,
            "reward": None,
            "error": "model openai/gpt-4.1-mini: connection refused after 7 tries",
            "turns": turns[:1],
        }
    )
    running = a.model_copy(update={"session_id": "s-d", "status": SessionStatus.RUNNING})
    return [a, b, c, running]


def test_export_to_tau2_results_reads_with_tau2_and_round_trips(
    tmp_path: Path, new_york: None
) -> None:
    db = tmp_path / "runs.db"
    store = Store(db)
    sessions = _sessions()
    store.import_records(sessions)
    out = tmp_path / "results.json"
    r = simgap(
        "export", "--db", str(db), "--format", "tau2", "--out", str(out), tz="America/New_York"
    )
    assert r.returncode == 0, r.stderr
    assert "wrote 3 simulations" in r.stdout and "1 unfinished session(s) left out" in r.stdout

    # τ²'s own loader reads it, and sees what simgap stored
    from tau2.data_model.simulation import Results

    res = Results.load(out)
    assert res.info.environment_info.domain_name == "airline"
    assert {t.id for t in res.tasks} == {"0", "19"}
    by_id = {sim.id: sim for sim in res.simulations}
    sim_a = by_id["s-a"]
    assert sim_a.reward_info is not None and sim_a.reward_info.reward == 1.0
    assert sim_a.reward_info.db_check is not None and sim_a.reward_info.db_check.db_match
    assert sim_a.termination_reason.value == "user_stop" and sim_a.seed == 301
    assert [m.role for m in sim_a.messages] == [
        "assistant",
        "user",
        "assistant",
        "tool",
        "tool",
        "assistant",
        "user",
    ]
    assert sim_a.messages[2].tool_calls[0].arguments == {"reservation_id": "Z7GOZK"}
    assert sim_a.messages[1].usage == {"prompt_tokens": 40, "completion_tokens": 6}
    assert sim_a.messages[0].timestamp == "2026-01-01T10:00:00.123456"  # New York, no zone, as τ²
    assert by_id["s-b"].termination_reason.value == "user_stop"  # τ²'s nearest to a transfer
    assert by_id["s-c"].skipped is True

    # ... and importing it gives back the very same sessions
    back = {s.session_id: s for s in read_tau2_results(out)}
    assert back.keys() == {"s-a", "s-b", "s-c"}
    for s in sessions[:3]:
        assert back[s.session_id] == s, s.session_id


def test_export_refuses_two_domains_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    a, *_ = _sessions()
    Store(db).import_records(
        [a, a.model_copy(update={"session_id": "r", "domain": "retail", "task_id": "0"})]
    )
    line = one_line_error(
        simgap("export", "--db", str(db), "--format", "tau2", "--out", str(tmp_path / "x.json"))
    )
    assert "a τ² results file holds one domain; pass --domain" in line
