"""Simulators answer the questionnaire: JSON through a fake OpenAI-compatible server, one
repair, item-by-item fallback, parametric answers, resume, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.feedback import collect_feedback, parametric_answers
from simgap.feedback.questionnaire import parse_item_answer, parse_json_answers
from simgap.llm.base import ModelConfig
from simgap.models import Role, Session, SessionStatus, Turn, UserKind, load_questionnaire
from simgap.store import Store
from simgap.users import UserPreset, get_preset, register_preset
from tests.fakes.openai_server import FakeOpenAIServer, Reply

Q = load_questionnaire("usi")
GOOD = {
    "task_success": "Yes - Task completed",
    "efficiency": "Very efficient",
    "question_amount_preference": "About right",
    "answer_effort_time": "Low",
    "human_like": "Partially",
    "interaction_flow": "Smooth",
    "overall_score": 4,
    "reuse": "Yes",
}


def _session(sid: str, user: str) -> Session:
    return Session(
        session_id=sid,
        task_id="0",
        domain="airline",
        user_kind=UserKind.SIMULATOR,
        user_id=user,
        status=SessionStatus.DONE,
        seed=11,
        turns=[
            Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?"),
            Turn(idx=1, role=Role.USER, content="Cancel EHGLP3 please."),
            Turn(idx=2, role=Role.AGENT, content="Done. ###STOP###"),
        ],
    )


def _store(tmp_path: Path, user: str, n: int = 2) -> Store:
    store = Store(tmp_path / "runs.db")
    for i in range(n):
        store.save_session(_session(f"s{i}", user))
    return store


def _preset(srv: FakeOpenAIServer, name: str) -> None:
    cfg = ModelConfig(
        model="openai/fb-model", api_base=srv.base_url, api_key="sk-test", max_retries=0
    )
    register_preset(UserPreset(name=name, kind="tau2", model=cfg))


def test_parse_json_answers_validates_every_field() -> None:
    assert parse_json_answers(Q, "Sure: " + json.dumps(GOOD)) == GOOD
    with pytest.raises(ValueError, match="reuse: missing"):
        parse_json_answers(Q, json.dumps({k: v for k, v in GOOD.items() if k != "reuse"}))
    with pytest.raises(ValueError, match="overall_score"):
        parse_json_answers(Q, json.dumps({**GOOD, "overall_score": 9}))
    with pytest.raises(ValueError, match="no JSON"):
        parse_json_answers(Q, "I liked it")


def test_parse_item_answer_picks_the_numbered_option() -> None:
    item = Q.item("reuse")
    assert parse_item_answer(item, "4") == "Yes"
    assert parse_item_answer(item, "My answer: 9, no, 2") == "No"
    with pytest.raises(ValueError, match="reuse"):
        parse_item_answer(item, "none")


def test_llm_json_answers_are_stored(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    _preset(fake_openai, "fb-json")
    store = _store(tmp_path, "fb-json")
    fake_openai.responder = lambda body: Reply.text(json.dumps(GOOD))
    s = collect_feedback(store, simulator="fb-json", use_cache=False)
    assert (s.answered, s.failed, s.methods) == (2, [], {"json": 2})
    fbs = store.get_feedback()
    assert len(fbs) == 2 and all(f.answers == GOOD for f in fbs)
    assert all(f.respondent_kind == UserKind.SIMULATOR and f.respondent_id == "fb-json" for f in fbs)
    prompt = fake_openai.requests[0]["messages"][1]["content"]
    assert "You: Cancel EHGLP3 please." in prompt and "Exceeded expectations" in prompt
    # rerun: nothing left, no call
    calls = fake_openai.calls
    again = collect_feedback(store, simulator="fb-json", use_cache=False)
    assert again.answered == 0 and again.already == 2 and fake_openai.calls == calls


def test_invalid_json_is_repaired_once(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    _preset(fake_openai, "fb-repair")
    store = _store(tmp_path, "fb-repair", n=1)
    fake_openai.script(Reply.text("{not: json}"), Reply.text(json.dumps(GOOD)))
    s = collect_feedback(store, simulator="fb-repair", use_cache=False)
    assert s.methods == {"repair": 1}
    repair = fake_openai.requests[1]["messages"][-1]["content"]
    assert "not valid: invalid JSON" in repair


def test_item_by_item_fallback_then_failure_with_cause(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    _preset(fake_openai, "fb-items")
    store = _store(tmp_path, "fb-items", n=1)
    n_items = len(Q.scored_items)
    fake_openai.script("no", "still no", *["2"] * n_items)
    s = collect_feedback(store, simulator="fb-items", use_cache=False)
    assert s.methods == {"per_item": 1}
    (fb,) = store.get_feedback()
    assert fb.answers["reuse"] == "No" and fb.answers["overall_score"] == 2
    # a model that never answers: nothing stored, one-line cause
    store2 = Store(tmp_path / "other.db")
    store2.save_session(_session("x", "fb-items"))
    fake_openai.responder = lambda body: Reply.text("I cannot say")
    s2 = collect_feedback(store2, simulator="fb-items", use_cache=False)
    assert s2.answered == 0 and len(s2.failed) == 1
    assert "no option number" in s2.failed[0][1] and store2.get_feedback() == []


def test_parametric_answers_follow_the_profile_and_are_seeded() -> None:
    standin = get_preset("standin")
    a = parametric_answers(standin, Q, 5)
    assert a == parametric_answers(standin, Q, 5)
    for item in Q.scored_items:
        assert item.validate_answer(a[item.field]) == a[item.field]
    # behavior's ratings are rosier than the stand-in's on average (profiles 0.85 vs ~0.57)
    def mean_pos(name: str) -> float:
        p = get_preset(name)
        vals = [
            Q.item(f).normalise(v)
            for seed in range(200)
            for f, v in parametric_answers(p, Q, seed).items()
        ]
        return sum(x for x in vals if x is not None) / len(vals)

    assert mean_pos("behavior") > mean_pos("standin") + 0.15


def test_feedback_cli_parametric(tmp_path: Path) -> None:
    store = _store(tmp_path, "standin", n=3)
    store.close()
    r = CliRunner().invoke(app, ["feedback", "--db", str(tmp_path / "runs.db"), "-s", "standin"])
    assert r.exit_code == 0, r.output
    assert "standin: 3 answered now (parametric 3)" in " ".join(r.output.split())
    assert len(Store(tmp_path / "runs.db").get_feedback()) == 3
