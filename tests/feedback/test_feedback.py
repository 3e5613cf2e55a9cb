"""Simulators answer the questionnaire: JSON through a fake OpenAI-compatible server, one repair,
failures with a one-line cause (nothing partial stored), item by item on request, the embedded
model under a grammar, parametric answers, resume, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simgap.cli.app import app
from simgap.feedback import collect_feedback, parametric_answers, resolve_simulator
from simgap.feedback.questionnaire import parse_item_answer, parse_json_answers
from simgap.llm.base import ModelConfig
from simgap.models import Role, Session, SessionStatus, Turn, UserKind, load_questionnaire
from simgap.store import Store
from simgap.users import (
    AnswerDist,
    BehaviorProfile,
    UserPreset,
    get_preset,
    register_preset,
    registry,
    sample_answers,
)
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


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry, "_EXTRA_PRESETS", {})
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SIMGAP_PROFILE", raising=False)


def _session(sid: str, user: str, **kw: object) -> Session:
    data: dict[str, object] = {
        "session_id": sid,
        "task_id": "0",
        "domain": "airline",
        "user_kind": UserKind.SIMULATOR,
        "user_id": user,
        "status": SessionStatus.DONE,
        "seed": 11,
        "turns": [
            Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?"),
            Turn(idx=1, role=Role.USER, content="Cancel my booking please."),
            Turn(idx=2, role=Role.AGENT, content="Done, it is cancelled."),
            Turn(idx=3, role=Role.USER, content="Thanks. ###STOP###"),
        ],
        **kw,
    }
    return Session.model_validate(data)


def _store(tmp_path: Path, user: str, n: int = 2, name: str = "runs.db") -> Store:
    store = Store(tmp_path / name)
    for i in range(n):
        store.save_session(_session(f"s{i}", user))
    store.save_session(_session("unfinished", user, status=SessionStatus.RUNNING))
    return store


def _preset(srv: FakeOpenAIServer, name: str) -> None:
    cfg = ModelConfig(
        model="openai/fb-model", api_base=srv.base_url, api_key="sk-test", max_retries=0
    )
    register_preset(UserPreset(name=name, kind="tau2", model=cfg))


def test_parse_json_answers_validates_every_field() -> None:
    assert parse_json_answers(Q, "Sure: " + json.dumps(GOOD)) == GOOD
    lower = {**GOOD, "reuse": "yes"}  # options are matched case-insensitively
    assert parse_json_answers(Q, json.dumps(lower))["reuse"] == "Yes"
    with pytest.raises(ValueError, match="reuse: missing"):
        parse_json_answers(Q, json.dumps({k: v for k, v in GOOD.items() if k != "reuse"}))
    with pytest.raises(ValueError, match=r"overall_score: 9 is outside 1\.\.5"):
        parse_json_answers(Q, json.dumps({**GOOD, "overall_score": 9}))
    with pytest.raises(ValueError, match="no JSON"):
        parse_json_answers(Q, "I liked it")


def test_parse_item_answer_picks_the_numbered_option() -> None:
    item = Q.item("reuse")
    assert parse_item_answer(item, "4") == "Yes"
    assert parse_item_answer(item, "My answer: 9, no, 2") == "No"
    assert parse_item_answer(item, "Maybe, I think") == "Maybe"
    with pytest.raises(ValueError, match="reuse"):
        parse_item_answer(item, "none")


def test_llm_json_answers_are_stored_and_a_rerun_skips_them(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    _preset(fake_openai, "fb-json")
    store = _store(tmp_path, "fb-json")
    fake_openai.responder = lambda body: Reply.text(json.dumps(GOOD))
    s = collect_feedback(store, simulator="fb-json", use_cache=False)
    assert (s.sessions, s.answered, s.failed, s.methods) == (2, 2, [], {"json": 2})
    fbs = store.get_feedback()
    assert {f.session_id for f in fbs} == {"s0", "s1"}  # not the unfinished session
    for f in fbs:
        assert f.answers == GOOD and f.respondent_id == "fb-json"
        assert f.respondent_kind == UserKind.SIMULATOR
        assert f.meta["method"] == "json" and f.meta["model"] == "openai/fb-model"
        assert f.usage is not None and f.usage.calls == 1
    system, user = fake_openai.requests[0]["messages"]
    assert "answer a short survey" in system["content"]
    prompt = user["content"]
    assert "You: Cancel my booking please." in prompt and "###STOP###" not in prompt
    assert "Reason for call" in prompt and "EHGLP3" in prompt  # the task's scenario
    assert "Exceeded expectations" in prompt  # the options, written out
    calls = fake_openai.calls
    again = collect_feedback(store, simulator="fb-json", use_cache=False)
    assert (again.answered, again.already) == (0, 2) and fake_openai.calls == calls


def test_invalid_json_is_repaired_once(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    _preset(fake_openai, "fb-repair")
    store = _store(tmp_path, "fb-repair", n=1)
    fake_openai.script(Reply.text("{not: json}"), Reply.text(json.dumps(GOOD)))
    s = collect_feedback(store, simulator="fb-repair", use_cache=False)
    assert s.methods == {"repair": 1} and s.failed == []
    repair = fake_openai.requests[1]["messages"]
    assert repair[-2] == {"role": "assistant", "content": "{not: json}"}
    assert "not valid: invalid JSON" in repair[-1]["content"]
    (fb,) = store.get_feedback()
    assert fb.answers == GOOD and fb.meta["method"] == "repair"


def test_still_invalid_after_the_repair_fails_with_a_cause_and_stores_nothing(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    _preset(fake_openai, "fb-bad")
    store = _store(tmp_path, "fb-bad", n=1)
    bad = json.dumps({**GOOD, "overall_score": 9})
    fake_openai.responder = lambda body: Reply.text(bad)
    s = collect_feedback(store, simulator="fb-bad", use_cache=False)
    assert s.answered == 0 and fake_openai.calls == 2  # the answer, one repair, no more
    ((sid, cause),) = s.failed
    assert sid == "s0" and "\n" not in cause
    assert cause == "invalid answers after one repair: overall_score: 9 is outside 1..5"
    assert store.get_feedback() == []
    fake_openai.responder = lambda body: Reply.text("I cannot say")
    store2 = _store(tmp_path, "fb-bad", n=1, name="other.db")
    s2 = collect_feedback(store2, simulator="fb-bad", use_cache=False)
    assert s2.failed[0][1] == "invalid answers after one repair: no JSON object in the reply"
    assert store2.get_feedback() == []


def test_per_item_answers_for_models_without_json(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    _preset(fake_openai, "fb-items")
    store = _store(tmp_path, "fb-items", n=1)
    fake_openai.script("no idea", *["2"] * len(Q.scored_items))  # one miss, then option 2
    s = collect_feedback(store, simulator="fb-items", use_cache=False, per_item=True)
    assert s.methods == {"per_item": 1}
    (fb,) = store.get_feedback()
    assert fb.answers["reuse"] == "No" and fb.answers["overall_score"] == 2
    assert (
        "Reply with the number of your answer only."
        in (fake_openai.requests[0]["messages"][1]["content"])
    )


def test_the_embedded_model_answers_under_a_grammar(tmp_path: Path) -> None:
    store = _store(tmp_path, "local", n=1)
    s = collect_feedback(store, simulator="local")
    assert s.failed == [] and s.answered == 1 and s.methods == {"json": 1}
    (fb,) = store.get_feedback()
    assert set(fb.answers) == {it.field for it in Q.scored_items}
    assert fb.usage is not None and fb.usage.calls == 1


def test_sample_answers_by_hand() -> None:
    """With sd 0 the answer is the option nearest the mean position: task_success positions
    0, .25, .5, .75, 1 -> 0.5 is "Partially"; question_amount_preference values 1, 1, 2 ->
    positions 0, 0, 1 -> 0.6 is "About right"; overall_score 1..5 -> 0.5 is 3; reuse 0.8 is
    nearest 0.75, "Yes"; unlisted fields use the default mean 0.8."""
    p = BehaviorProfile(
        feedback={
            "task_success": AnswerDist(mean=0.5, sd=0.0),
            "question_amount_preference": AnswerDist(mean=0.6, sd=0.0),
            "overall_score": AnswerDist(mean=0.5, sd=0.0),
            "reuse": AnswerDist(mean=0.8, sd=0.0),
        }
    )
    a = sample_answers(p, Q, 3)
    assert a["task_success"] == "Partially - Some progress"
    assert a["question_amount_preference"] == "About right"
    assert a["overall_score"] == 3 and a["reuse"] == "Yes"


def test_parametric_answers_follow_the_profile_and_are_seeded() -> None:
    standin = get_preset("standin")
    s = _session("x", "standin")
    a = parametric_answers(standin, Q, s)
    assert a == parametric_answers(standin, Q, s)
    for item in Q.scored_items:
        assert item.validate_answer(a[item.field]) == a[item.field]

    def mean_pos(name: str) -> float:
        p = get_preset(name)
        vals = [
            Q.item(f).normalise(v)
            for seed in range(200)
            for f, v in parametric_answers(p, Q, _session("x", name, seed=seed)).items()
        ]
        return sum(x for x in vals if x is not None) / len(vals)

    assert mean_pos("behavior") > mean_pos("standin") + 0.15  # simulators rate rosier


def test_grounded_sessions_answer_from_the_profile_they_ran_on(tmp_path: Path) -> None:
    profile = BehaviorProfile(name="fitted", feedback={"overall_score": AnswerDist(mean=0, sd=0)})
    settings = {"engine": "behavior", "profile": profile.model_dump(mode="json")}
    store = Store(tmp_path / "runs.db")
    store.save_session(
        _session("g", "grounded", meta={"synthetic": True, "user_preset": {"settings": settings}})
    )
    s = collect_feedback(store, simulator="grounded")  # no $SIMGAP_PROFILE needed
    assert s.methods == {"parametric": 1}
    (fb,) = store.get_feedback()
    assert fb.answers["overall_score"] == 1 and fb.meta["synthetic"] is True


def test_simulator_names_with_a_model_resolve() -> None:
    p = resolve_simulator("local:openai/gpt-4o")
    assert p.name == "local:openai/gpt-4o" and p.model is not None
    assert p.model.model == "openai/gpt-4o"
    with pytest.raises(Exception, match="unknown simulator 'nope'"):
        resolve_simulator("nope")


def test_feedback_cli_parametric_and_llm(tmp_path: Path, fake_openai: FakeOpenAIServer) -> None:
    store = _store(tmp_path, "standin", n=3)
    _preset(fake_openai, "fb-cli")
    for i in range(2):
        store.save_session(_session(f"c{i}", "fb-cli"))
    store.close()
    fake_openai.responder = lambda body: Reply.text(json.dumps(GOOD))
    db = str(tmp_path / "runs.db")
    r = CliRunner().invoke(
        app, ["feedback", "--db", db, "-s", "standin", "-s", "fb-cli", "--no-cache", "-c", "2"]
    )
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "standin: 3 answered now (parametric 3), 0 earlier, 0 failed" in text
    assert "fb-cli: 2 answered now (json 2), 0 earlier, 0 failed" in text
    again = CliRunner().invoke(app, ["feedback", "--db", db, "-s", "standin"])
    assert "standin: 0 answered now (-), 3 earlier" in " ".join(again.output.split())
    assert len(Store(db).get_feedback()) == 5
