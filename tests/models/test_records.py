"""Data model: JSONL round-trip and one-line errors naming file, line and field."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from simgap.models import (
    AgentSpec,
    Annotation,
    Feedback,
    RecordError,
    Reward,
    Role,
    Session,
    SessionStatus,
    Termination,
    ToolCall,
    Turn,
    Usage,
    UserKind,
    load_jsonl,
    load_questionnaire,
    write_jsonl,
)


def _session() -> Session:
    ts = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    return Session(
        session_id="s1",
        task_id="7",
        domain="airline",
        user_kind=UserKind.HUMAN,
        user_id="p-001",
        agent=AgentSpec(name="llm", model="openai/gpt-5.2", settings={"temperature": 0.0}),
        batch="b1",
        trial=0,
        seed=42,
        status=SessionStatus.DONE,
        termination=Termination.USER_STOP,
        reward=Reward(value=1.0, breakdown={"DB": 1.0}, basis=["DB"]),
        started_at=ts,
        ended_at=ts,
        agent_usage=Usage(prompt_tokens=10, completion_tokens=5, calls=1, cost_usd=0.01),
        turns=[
            Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?", timestamp=ts),
            Turn(idx=1, role=Role.USER, content="cancel EHGLP3 pls", timestamp=ts),
            Turn(
                idx=2,
                role=Role.AGENT,
                tool_calls=[
                    ToolCall(
                        id="c1",
                        name="get_reservation_details",
                        arguments={"reservation_id": "EHGLP3"},
                    )
                ],
                timestamp=ts,
                usage=Usage(prompt_tokens=10, completion_tokens=5, calls=1),
            ),
            Turn(
                idx=3,
                role=Role.TOOL,
                content="{}",
                tool_call_id="c1",
                requestor=Role.AGENT,
                timestamp=ts,
            ),
        ],
        meta={"synthetic": True},
    )


def test_jsonl_round_trip_keeps_every_field(tmp_path: Path) -> None:
    s = _session()
    fb = Feedback(
        session_id="s1",
        respondent_kind=UserKind.HUMAN,
        respondent_id="p-001",
        answers={"efficiency": 4, "task_success": "Yes"},
        free_text="ok",
    )
    ann = Annotation(
        session_id="s1",
        turn_idx=1,
        annotator="rules",
        codebook_version="1",
        codes={"tone": "neutral"},
        features={"words": 3.0},
    )
    path = tmp_path / "out.jsonl"
    assert write_jsonl(path, [s, fb, ann]) == 3
    back = load_jsonl(path)
    assert back == [s, fb, ann]
    assert back[0].duration_s == 0.0
    assert [t.role for t in back[0].user_turns] == [Role.USER]


def test_bad_json_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    good = _session().model_dump_json()
    path.write_text(good + "\n" + '{"session_id": "x", "task_id": \n')
    with pytest.raises(RecordError) as e:
        load_jsonl(path)
    msg = str(e.value)
    assert f"{path}:2:" in msg and "not valid JSON" in msg
    assert "\n" not in msg


def test_invalid_field_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    rec = _session().model_dump(mode="json")
    rec["turns"][1]["role"] = "customer"
    import json

    path.write_text("\n" + json.dumps(rec) + "\n")
    with pytest.raises(RecordError) as e:
        load_jsonl(path)
    assert f"{path}:2: field session.turns.1.role" in str(e.value)


def test_write_is_atomic_when_a_record_fails(tmp_path: Path) -> None:
    path = tmp_path / "keep.jsonl"
    write_jsonl(path, [_session()])
    before = path.read_text()

    def records():  # type: ignore[no-untyped-def]
        yield _session()
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_jsonl(path, records())
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["keep.jsonl"]


def test_questionnaire_normalises_and_validates() -> None:
    q = load_questionnaire("usi")
    scored = [i.field for i in q.scored_items]
    assert len(scored) == 8
    for item in q.scored_items:
        if item.kind == "likert":
            assert item.normalise(item.scale_min) == 0.0
            assert item.normalise(item.scale_max) == 1.0
        else:
            assert item.normalise(item.options[0]) == 0.0
            assert item.normalise(item.options[-1]) == 1.0
    with pytest.raises(ValueError, match="unknown questionnaire field"):
        q.validate_answers({"nope": 1})
    likert = next(i for i in q.scored_items if i.kind == "likert")
    with pytest.raises(ValueError, match=likert.field):
        likert.validate_answer(99)
