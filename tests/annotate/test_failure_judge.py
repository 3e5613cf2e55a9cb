"""The optional LLM failure judge through the fake OpenAI-compatible server (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from simgap.annotate.failure_judge import FailureJudge
from simgap.llm.base import ModelConfig
from simgap.llm.factory import make_client
from simgap.models import FailureCause, FailureLabel, FailureReason, Session, Task
from simgap.store import Store
from tests.annotate.test_runner import _app
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.metrics.synth import session

TASK = Task(domain="retail", task_id="1", task_instructions="Return the lamp; get a refund.")


def _failed() -> Session:
    # turns: 0 agent greeting, 1 user, 2 agent, 3 user, 4 agent
    return session(
        "synthetic-judge-1",
        ["I want to return my lamp", "Actually, exchange it for a blue sofa instead."],
        agent_texts=["Sure, which order?", "Okay."],
        reward=0.0,
    )


def _answer(**over: Any) -> str:
    base = {
        "cause": "user",
        "reason": "out_of_task_request",
        "evidence_turn": 3,
        "explanation": "asks for a sofa exchange its scenario does not mention",
    }
    return json.dumps({**base, **over})


async def test_valid_answer_becomes_a_label_with_evidence(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(Reply.text(_answer()))
    judge = FailureJudge(make_client(fake_model_config))
    lab = await judge.judge(_failed(), TASK)
    assert lab is not None
    assert (lab.cause, lab.reason, lab.evidence_turn) == (
        FailureCause.USER,
        FailureReason.OUT_OF_TASK_REQUEST,
        3,
    )
    assert lab.labeller == "llm:openai/fake-model" and "sofa" in lab.evidence
    ann = lab.to_annotation()
    assert ann.annotator == "failure:llm:openai/fake-model"
    assert FailureLabel.from_annotation(ann) == lab
    req = fake_openai.requests[0]
    assert req["response_format"]["type"] == "json_schema"
    prompt = req["messages"][1]["content"]
    assert "Return the lamp" in prompt and "[3] USER: Actually, exchange it" in prompt
    await judge.aclose()


async def test_invalid_answers_are_sent_back_then_accepted(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(
        Reply.text(_answer(cause="agent")),  # reason belongs to "user"
        Reply.text(_answer(evidence_turn=42)),  # no such turn
        Reply.text(_answer()),
    )
    judge = FailureJudge(make_client(fake_model_config), max_retries=2)
    lab = await judge.judge(_failed(), TASK)
    assert lab is not None and lab.labeller.startswith("llm:") and lab.meta["attempts"] == 3
    second = fake_openai.requests[1]["messages"][-1]["content"]
    assert "belongs to cause 'user', not 'agent'" in second
    third = fake_openai.requests[2]["messages"][-1]["content"]
    assert "evidence_turn 42 is not a turn" in third
    await judge.aclose()


async def test_judge_that_stays_invalid_leaves_the_rule_label_marked(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(Reply.text("no idea"), Reply.text("{}"))
    judge = FailureJudge(make_client(fake_model_config), max_retries=1)
    lab = await judge.judge(_failed(), TASK)
    assert lab is not None and lab.labeller == "rules"
    assert lab.meta["judge_failed"] == "llm:openai/fake-model"
    assert len(lab.meta["judge_errors"]) == 2 and fake_openai.calls == 2
    await judge.aclose()


async def test_successful_sessions_are_not_judged(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    judge = FailureJudge(make_client(fake_model_config))
    assert await judge.judge(session("synthetic-ok", ["hi"], reward=1.0)) is None
    assert fake_openai.calls == 0
    await judge.aclose()


def _failed_store(tmp_path: Path) -> str:
    store = Store(tmp_path / "runs.db")
    store.save_session(_failed())
    store.save_session(session("synthetic-judge-ok", ["hi"], reward=1.0))
    store.save_session(
        session("synthetic-judge-2", ["Forget it, I'll call back later."], reward=0.0)
    )
    store.close()
    return str(tmp_path / "runs.db")


def test_cli_failures_with_rules_then_judge_is_resumable(
    tmp_path: Path, fake_openai: FakeOpenAIServer
) -> None:
    db = _failed_store(tmp_path)
    app = _app()
    r = CliRunner().invoke(app, ["annotate", "--db", db, "--failures", "--no-scenarios"])
    assert r.exit_code == 0, r.output
    # two failed of three finished; the rules: one agent error, one gave up (user)
    assert "2 labelled now (agent 1, user 1), 0 earlier; 2 failed of 3" in r.output
    again = CliRunner().invoke(app, ["annotate", "--db", db, "--failures", "--no-scenarios"])
    assert "0 labelled now (-), 2 earlier" in again.output
    fake_openai.responder = lambda req: _answer()
    j = CliRunner(env={"OPENAI_API_KEY": "sk-test"}).invoke(
        app,
        [
            "annotate",
            "--db",
            db,
            "--failures",
            "--no-scenarios",
            "--annotator",
            "llm:openai/fake-model",
            "--api-base",
            fake_openai.base_url,
            "--no-cache",
        ],
    )
    assert j.exit_code == 0, j.output
    # synthetic-judge-2 has no turn 3, so the judge's answer is invalid on every attempt: its
    # rule label is stored (marked) and the judge will try again on the next run
    assert "by llm:openai/fake-model: 2 labelled now (user 2)" in j.output
    assert "judge gave no valid answer for 1 (rule label stored)" in " ".join(j.output.split())
    store = Store(db)
    judged = store.get_annotations(annotator="failure:llm:openai/fake-model")
    rules = store.get_annotations(annotator="failure:rules")
    store.close()
    labels = [FailureLabel.from_annotation(a) for a in judged]
    assert [(lab.session_id, lab.reason) for lab in labels if lab] == [
        ("synthetic-judge-1", FailureReason.OUT_OF_TASK_REQUEST)
    ]
    marked = [FailureLabel.from_annotation(a) for a in rules]
    assert any(lab and lab.meta.get("judge_failed") for lab in marked)
