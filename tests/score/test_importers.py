"""τ²-bench results.json and tau-usi importers on small files the tests write."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simgap.models import Feedback, Role, Session, SessionStatus, Termination, UserKind
from simgap.store.importers import ImportFormatError, detect_format, read_any

TS = "2026-01-01T10:00:00.000000"


def tau2_results(**over: Any) -> dict[str, Any]:
    """A minimal τ² `Results` document: two simulations of retail tasks (synthetic)."""
    sims = [
        {
            "id": "sim-1",
            "task_id": "7",
            "trial": 0,
            "seed": 300,
            "start_time": TS,
            "end_time": "2026-01-01T10:05:00",
            "duration": 300.0,
            "termination_reason": "user_stop",
            "agent_cost": 0.01,
            "user_cost": 0.002,
            "reward_info": {
                "reward": 1.0,
                "reward_basis": ["DB", "COMMUNICATE"],
                "reward_breakdown": {"DB": 1.0, "COMMUNICATE": 1.0},
            },
            "messages": [
                {"role": "system", "content": "policy", "timestamp": TS},
                {"role": "assistant", "content": "Hi! How can I help you today?", "turn_idx": 0},
                {"role": "user", "content": "Cancel order #W1234567 please."},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c1",
                            "name": "cancel_pending_order",
                            "arguments": {"order_id": "#W1234567"},
                            "requestor": "assistant",
                        }
                    ],
                },
                {
                    "role": "tool",
                    "id": "c1",
                    "content": "Error: not pending",
                    "requestor": "assistant",
                    "error": True,
                },
                {"role": "assistant", "content": "Sorry, I cannot cancel it."},
                {"role": "user", "content": "ok bye ###STOP###"},
            ],
        },
        {
            "id": "sim-2",
            "task_id": "8",
            "trial": 1,
            "start_time": TS,
            "end_time": TS,
            "duration": 1.0,
            "termination_reason": "max_steps",
            "reward_info": {"reward": 0.0},
            "messages": [{"role": "user", "content": "hello"}],
        },
    ]
    doc: dict[str, Any] = {
        "timestamp": TS,
        "info": {
            "git_commit": "abc",
            "num_trials": 2,
            "max_steps": 200,
            "max_errors": 10,
            "user_info": {
                "implementation": "user_simulator",
                "llm": "gpt-4.1",
                "llm_args": {"temperature": 0.0},
            },
            "agent_info": {"implementation": "llm_agent", "llm": "gpt-4.1-mini", "llm_args": {}},
            "environment_info": {"domain_name": "retail", "policy": "..."},
        },
        "tasks": [],
        "simulations": sims,
    }
    doc.update(over)
    return doc


def write(tmp_path: Path, name: str, data: Any) -> Path:
    p = tmp_path / name
    p.write_text(json.dumps(data, indent=1))
    return p


def test_tau2_results_become_sessions(tmp_path: Path) -> None:
    p = write(tmp_path, "results.json", tau2_results())
    assert detect_format(p) == "tau2"
    s1, s2 = read_any(p)
    assert isinstance(s1, Session) and isinstance(s2, Session)
    assert (s1.session_id, s1.domain, s1.task_id, s1.trial) == ("sim-1", "retail", "7", 0)
    assert s1.user_kind == UserKind.SIMULATOR and s1.user_id == "gpt-4.1"
    assert s1.agent.model == "gpt-4.1-mini"
    assert s1.status == SessionStatus.DONE and s1.termination == Termination.USER_STOP
    assert s1.reward is not None and s1.reward.success and s1.reward.basis == ["DB", "COMMUNICATE"]
    assert [t.role for t in s1.turns] == [
        Role.AGENT,
        Role.USER,
        Role.AGENT,
        Role.TOOL,
        Role.AGENT,
        Role.USER,
    ]  # the system message is not part of the conversation
    tool = s1.turns[3]
    assert tool.tool_error and tool.tool_call_id == "c1" and tool.requestor == Role.AGENT
    assert s1.turns[2].tool_calls[0].arguments == {"order_id": "#W1234567"}
    assert s1.user_usage.cost_usd == pytest.approx(0.002)
    assert s1.started_at is not None and s1.started_at.tzinfo is not None
    assert s2.termination == Termination.MAX_STEPS and not s2.reward.success  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["simulations"][0]["messages"][2].update(role="bot"),
            "simulations[0].messages[2].role: unknown role 'bot'",
        ),
        (lambda d: d["simulations"][1].pop("task_id"), "simulations[1].task_id: missing"),
        (
            lambda d: d["simulations"][0].update(termination_reason="tired"),
            "simulations[0].termination_reason: unknown reason 'tired'",
        ),
        (
            lambda d: d["simulations"][0]["reward_info"].update(reward="high"),
            "simulations[0].reward_info.reward: expected int/float, got str",
        ),
        (
            lambda d: d["info"]["environment_info"].pop("domain_name"),
            "info.environment_info.domain_name: missing",
        ),
    ],
)
def test_tau2_bad_fields_are_named_in_one_line(tmp_path: Path, mutate: Any, message: str) -> None:
    doc = tau2_results()
    mutate(doc)
    p = write(tmp_path, "results.json", doc)
    with pytest.raises(ImportFormatError) as e:
        read_any(p, "tau2")
    assert str(e.value) == f"{p}: {message}"


def test_bad_json_names_the_line(tmp_path: Path) -> None:
    p = tmp_path / "results.json"
    p.write_text('{\n  "info": {},\n  "simulations": [,]\n}\n')
    with pytest.raises(ImportFormatError, match=r"results\.json:3: not valid JSON"):
        read_any(p)
    q = write(tmp_path, "other.json", {"hello": 1})
    with pytest.raises(ImportFormatError, match="unrecognised JSON"):
        read_any(q)
    with pytest.raises(ImportFormatError, match="no such file"):
        read_any(tmp_path / "missing.json")
    with pytest.raises(ImportFormatError, match="unknown format"):
        read_any(q, "csv")


def usi_entry(reward: float, answers: dict[str, str], *, keep: bool = True) -> dict[str, Any]:
    return {
        "conversation": [
            {"role": "assistant", "content": "Hi! How can I help you today?"},
            {"role": "user", "content": "need to return my shoes"},
            {"role": "system", "content": '{"order": 1}'},
            {"role": "assistant", "content": "Done."},
        ],
        "survey": {k: {"question": "?", "answer": v} for k, v in answers.items()},
        "reward": reward,
        "keep": keep,
    }


def test_tau_usi_people_batches_and_survey(tmp_path: Path) -> None:
    data = {
        "retail_3": usi_entry(
            1.0, {"overall_score": "4 (Good)", "human_like": "Partially", "reuse": "no answer"}
        ),
        "retail_3_ann2": usi_entry(
            0.0, {"question_amount_preference": "Too few", "efficiency": "Brilliant"}
        ),
        "airline_10_ann3": usi_entry(0.5, {}, keep=False),
    }
    p = write(tmp_path, "tau_bench_tasks_unified.json", data)
    assert detect_format(p) == "tau-usi"
    recs = read_any(p)
    sessions = [r for r in recs if isinstance(r, Session)]
    fbs = {r.session_id: r for r in recs if isinstance(r, Feedback)}
    assert [(s.domain, s.task_id, s.batch) for s in sessions] == [
        ("retail", "3", "b1"),
        ("retail", "3", "b2"),
        ("airline", "10", "b3"),
    ]
    assert all(s.user_kind == UserKind.HUMAN for s in sessions)
    assert [s.reward.value for s in sessions] == [1.0, 0.0, 1.0]  # type: ignore[union-attr]
    assert sessions[2].status == SessionStatus.FAILED  # keep=false: kept, never scored
    assert [t.role for t in sessions[0].turns] == [Role.AGENT, Role.USER, Role.TOOL, Role.AGENT]
    fb1 = fbs["tau-usi:human:retail_3"]
    assert fb1.answers == {"overall_score": 4, "human_like": "Partially"}
    fb2 = fbs["tau-usi:human:retail_3_ann2"]
    assert fb2.answers == {"question_amount_preference": "Too few"}
    assert fb2.meta["unmapped"] == ["efficiency='Brilliant'"]  # shown, not guessed


def test_tau_usi_simulator_runs(tmp_path: Path) -> None:
    data = {"retail_3_1": usi_entry(1.0, {}), "retail_3_2": usi_entry(0.0, {})}
    p = write(tmp_path, "eval_results_gpt-4o.json", data)
    sessions = [r for r in read_any(p, "tau-usi") if isinstance(r, Session)]
    assert [(s.user_id, s.user_kind, s.trial) for s in sessions] == [
        ("gpt-4o", UserKind.SIMULATOR, 0),
        ("gpt-4o", UserKind.SIMULATOR, 1),
    ]
    bad = write(tmp_path, "eval_results_x.json", {"retail-3": usi_entry(1.0, {})})
    with pytest.raises(ImportFormatError, match="instance id 'retail-3'"):
        read_any(bad)
