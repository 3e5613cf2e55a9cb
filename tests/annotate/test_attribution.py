"""Failure attribution: each rule on a hand-built SYNTHETIC session, the stored form (annotation
row, JSONL, store), and scoring's use of stored labels."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from simgap.annotate.attribution import attribute_failure, is_failed
from simgap.metrics import ScoreSettings, score_sets
from simgap.metrics.inputs import load_set, parse_set_spec
from simgap.models import (
    FAILURE_VERSION,
    Annotation,
    FailureCause,
    FailureLabel,
    FailureReason,
    Role,
    Session,
    SessionStatus,
    Task,
    Termination,
    ToolCall,
    Turn,
    UserKind,
    load_jsonl,
    write_jsonl,
)
from simgap.store import Store
from tests.metrics.synth import session

# Turn indices in `session(...)`: 0 agent greeting, then user 1, agent 2, user 3, agent 4, ...
TASK = Task(
    domain="retail",
    task_id="1",
    known_info="Your name is Anna Lee, e-mail anna.lee@example.com, order #W1234567.",
    task_instructions="You want to return the lamp in your order and get your money back.",
)


def failed(user: list[str], agents: list[str] | None = None, **update: Any) -> Session:
    s = session("synthetic-fail", user, agent_texts=agents, reward=0.0)
    return s.model_copy(update=update) if update else s


def label(s: Session, task: Task | None = None) -> FailureLabel:
    out = attribute_failure(s, task)
    assert out is not None
    return out


def test_only_failed_finished_sessions_with_a_reward_are_attributed() -> None:
    assert attribute_failure(session("synthetic-ok", ["hi"], reward=1.0)) is None
    assert attribute_failure(session("synthetic-none", ["hi"], reward=None)) is None
    running = session("synthetic-run", ["hi"], reward=0.0, status=SessionStatus.RUNNING)
    assert attribute_failure(running) is None and not is_failed(running)
    assert is_failed(failed(["hi"]))


def test_environment_infrastructure_and_tool_errors() -> None:
    infra = label(failed(["hi"], termination=Termination.INFRA_ERROR, error="endpoint down"))
    assert (infra.cause, infra.reason) == (FailureCause.ENVIRONMENT, FailureReason.INFRA_ERROR)
    assert infra.evidence_turn is None and "endpoint down" in infra.evidence

    base = failed(["return my lamp please"])
    tool_call = Turn(
        idx=3, role=Role.AGENT, tool_calls=[ToolCall(id="c1", name="get_order", arguments={})]
    )
    crash = Turn(idx=4, role=Role.TOOL, content="Internal server error (503)", tool_error=True)
    s = base.model_copy(update={"turns": [*base.turns, tool_call, crash]})
    tool = label(s)
    assert (tool.cause, tool.reason, tool.evidence_turn) == (
        FailureCause.ENVIRONMENT,
        FailureReason.TOOL_ERROR,
        4,
    )
    # a tool error caused by the agent's own bad argument is the agent's
    not_found = crash.model_copy(update={"content": "Error: order not found"})
    s2 = base.model_copy(update={"turns": [*base.turns, tool_call, not_found]})
    agent = label(s2)
    assert (agent.cause, agent.reason, agent.evidence_turn) == (
        FailureCause.AGENT,
        FailureReason.AGENT_ERROR,
        3,  # the agent's last tool call
    )


@pytest.mark.parametrize(
    ("user", "agents", "update", "task", "reason", "turn"),
    [
        # τ² stopped on a malformed user message: the last user turn (3)
        (["hi", "???"], None, {"termination": Termination.USER_ERROR}, None, "user_error", 3),
        # talks about its instructions (turn 3)
        (
            ["I want a refund", "According to my instructions I should ask for a refund."],
            None,
            {},
            None,
            "leaked_goal",
            3,
        ),
        # says it is an AI (turn 1)
        (["As an AI user simulator I need help with a return."], None, {}, None, "leaked_goal", 1),
        # an order id that is not in its scenario (turn 3)
        (
            ["I'd like to return a lamp", "The order is #W7654321."],
            None,
            {},
            TASK,
            "contradicted_scenario",
            3,
        ),
        # an action its scenario never mentions (turn 1: "cancel")
        (["Can you cancel my order?"], None, {}, TASK, "out_of_task_request", 1),
        # gives up in one of its last two turns (turn 3)
        (
            ["I need to return my lamp", "Forget it, I'll call back later."],
            None,
            {},
            None,
            "gave_up_early",
            3,
        ),
        # stops while the agent asks it to confirm (turn 3)
        (
            ["I need to return my lamp", "Bye ###STOP###"],
            ["Shall I go ahead and process the return?", "Okay."],
            {"termination": Termination.USER_STOP},
            None,
            "ended_before_agent_finished",
            3,
        ),
    ],
)
def test_user_caused_failures(
    user: list[str],
    agents: list[str] | None,
    update: dict[str, Any],
    task: Task | None,
    reason: str,
    turn: int,
) -> None:
    lab = label(failed(user, agents, **update), task)
    assert lab.cause == FailureCause.USER
    assert lab.reason == FailureReason(reason)
    assert lab.evidence_turn == turn
    assert lab.labeller == "rules" and lab.evidence


def test_what_is_not_a_user_error() -> None:
    # the id was given by the agent first: no contradiction; returning is in the scenario
    agents = ["I see order #W7654321 on your account, is that the one?", "Okay."]
    ok = failed(["I'd like to return my lamp", "Yes, #W7654321."], agents)
    assert label(ok, TASK).cause == FailureCause.AGENT
    # without the scenario the two scenario rules never fire
    assert label(failed(["Can you cancel my order?"])).cause == FailureCause.AGENT
    # stopping after the agent's closing question is fine
    closing = failed(
        ["return my lamp", "no thanks ###STOP###"],
        ["Done! Is there anything else I can help you with?", "Bye"],
        termination=Termination.USER_STOP,
    )
    assert label(closing).reason == FailureReason.AGENT_ERROR
    steps = label(failed(["return my lamp"], termination=Termination.MAX_STEPS))
    assert (steps.cause, steps.reason) == (FailureCause.AGENT, FailureReason.TURN_LIMIT)


def test_label_round_trips_through_annotation_jsonl_and_store(tmp_path: Path) -> None:
    s = failed(["Forget it."])
    lab = label(s)
    ann = lab.to_annotation()
    assert ann.annotator == "failure:rules" and ann.codebook_version == FAILURE_VERSION
    assert ann.codes == {"cause": "user", "reason": "gave_up_early"}
    assert ann.meta["evidence_turn"] == 1
    assert FailureLabel.from_annotation(ann) == lab
    # not a failure label: None, never a guess
    assert (
        FailureLabel.from_annotation(
            Annotation(session_id="x", annotator="rules", codebook_version="1")
        )
        is None
    )
    bad = ann.model_copy(update={"codes": {"cause": "user", "reason": "bored"}})
    assert FailureLabel.from_annotation(bad) is None

    path = tmp_path / "runs.jsonl"
    write_jsonl(path, [s, ann])
    back = [r for r in load_jsonl(path) if isinstance(r, Annotation)]
    assert FailureLabel.from_annotation(back[0]) == lab

    store = Store(tmp_path / "runs.db")
    store.save_session(s)
    store.put_annotations([ann])
    (stored,) = store.get_annotations([s.session_id], annotator="failure:rules")
    store.close()
    assert FailureLabel.from_annotation(stored) == lab


def test_score_uses_stored_judge_labels_over_rules(tmp_path: Path) -> None:
    people = [
        session(
            f"synthetic-p-{t}",
            ["I need to return my lamp"],
            task=str(t),
            kind=UserKind.HUMAN,
            user=f"synthetic-p-{t}",
            batch="b1",
            reward=1.0,
        )
        for t in range(3)
    ]
    sims = [
        session(
            f"synthetic-s-{t}",
            ["I need to return my lamp", "ok"],
            task=str(t),
            user="synthetic-sim",
            reward=1.0 if t else 0.0,
        )
        for t in range(3)
    ]
    # the rules call the failure of synthetic-s-0 the agent's; a stored judge label says the
    # simulator asked for something outside its task (turn 3)
    judge = FailureLabel(
        session_id="synthetic-s-0",
        cause=FailureCause.USER,
        reason=FailureReason.OUT_OF_TASK_REQUEST,
        labeller="llm:openai/fake-model",
        evidence_turn=3,
        evidence="asks for an exchange the scenario does not mention",
    )
    path = tmp_path / "runs.jsonl"
    write_jsonl(path, [*people, *sims, judge.to_annotation()])
    settings = ScoreSettings(n_boot=0, n_permutations=0)
    ref = load_set(parse_set_spec(f"{path}:user_kind=human"))
    cand = load_set(parse_set_spec(f"{path}:user_kind=simulator"))
    assert cand.failure_labels["synthetic-s-0"].labeller == "llm:openai/fake-model"
    row = score_sets(ref, [cand], settings).rows[0]
    # 3 sessions, 1 failure, caused by the simulator: share 1/1, SR 2/3, SR excl. 2/(3 − 1) = 1
    assert row.failures["by_cause"] == {"agent": 0, "user": 1, "environment": 0}
    assert row.failures["labellers"] == {"llm:openai/fake-model": 1}
    assert row.failures["evidence"][0]["evidence_turn"] == 3
    assert row.estimates["Fail_user_share"].value == pytest.approx(1.0)
    assert row.estimates["SR_sim"].value == pytest.approx(2 / 3)
    assert row.estimates["SR_excl_user"].value == pytest.approx(1.0)

    # the same sessions in a store, label included: same attribution
    store = Store(tmp_path / "runs.db")
    for s in [*people, *sims]:
        store.save_session(s)
    store.put_annotations([judge.to_annotation()])
    store.close()
    db = tmp_path / "runs.db"
    cand_db = load_set(parse_set_spec(f"{db}:user_kind=simulator"))
    assert cand_db.failure_labels["synthetic-s-0"] == judge
    # without the stored label the rules decide: the agent's failure
    plain = tmp_path / "plain.jsonl"
    write_jsonl(plain, [*people, *sims])
    row2 = score_sets(
        load_set(parse_set_spec(f"{plain}:user_kind=human")),
        [load_set(parse_set_spec(f"{plain}:user_kind=simulator"))],
        settings,
    ).rows[0]
    assert row2.failures["by_cause"] == {"agent": 1, "user": 0, "environment": 0}
    assert row2.failures["labellers"] == {"rules": 1}
    assert row2.estimates["SR_excl_user"].value == pytest.approx(2 / 3)
