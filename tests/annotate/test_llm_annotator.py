"""The LLM annotator through the fake OpenAI-compatible HTTP server (no network)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from simgap.annotate.codebook import load_codebook
from simgap.annotate.llm_annotator import LLMAnnotator, parse_answer
from simgap.llm.base import EMPTY_ANSWER_RETRIES, LLMUnavailableError, ModelConfig
from simgap.llm.cache import ResponseCache
from simgap.llm.factory import make_client
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.metrics.synth import session

VALID = {
    "register": "casual",
    "politeness": False,
    "emotional_tone": "neutral",
    "informality": True,
    "length_bucket": "medium",
    "disclosure": "none",
    "vague": False,
    "self_correction": False,
    "clarification": "none",
    "error_reaction": "not_applicable",
}


def _answer(req: dict[str, Any]) -> str:
    """A codebook-valid answer that respects the turn's error context."""
    prompt = next(m["content"] for m in req["messages"] if m["role"] == "user")
    after_error = "It follows an agent error" in prompt
    return json.dumps(
        {**VALID, "error_reaction": "pushes_back" if after_error else "not_applicable"}
    )


def _session() -> Any:
    return session(
        "synthetic-llm-1",
        ["hi i want to return my order", "why cant you do that?"],
        agent_texts=["I'm sorry, I can't process returns for this order.", "Okay."],
    )


def _annotator(cfg: ModelConfig, **kw: Any) -> LLMAnnotator:
    return LLMAnnotator(make_client(cfg, cache=kw.pop("cache", None)), **kw)


async def test_valid_answers_are_stored_with_schema_and_codebook(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.responder = _answer
    ann = _annotator(fake_model_config)
    out = await ann.annotate(_session())
    turns, row = out[:-1], out[-1]
    assert ann.name == "llm:openai/fake-model"
    assert [a.missing for a in turns] == [False, False]
    assert turns[0].codes["error_reaction"] == "not_applicable"
    assert turns[1].codes["error_reaction"] == "pushes_back"
    assert row.turn_idx is None and row.meta["n_missing"] == 0
    req = fake_openai.requests[0]
    assert req["response_format"]["type"] == "json_schema"
    assert req["response_format"]["json_schema"]["schema"] == load_codebook().json_schema()
    assert "front_loads" in req["messages"][0]["content"]  # the codebook is in the prompt
    assert "hi i want to return my order" in req["messages"][1]["content"]
    await ann.aclose()


async def test_malformed_answer_is_retried_then_accepted(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.script(Reply.text("Sure! The register is casual."))  # not JSON
    fake_openai.responder = _answer
    ann = _annotator(fake_model_config)
    out = await ann.annotate(session("synthetic-llm-2", ["hello there"]))
    assert out[0].missing is False
    assert out[0].meta["attempts"] == 2
    retry = fake_openai.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "Sure! The register is casual."}
    assert "not valid JSON" in retry[-1]["content"]
    await ann.aclose()


async def test_answers_that_stay_invalid_become_missing_not_guessed(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    bad_value = json.dumps({**VALID, "register": "shouty"})
    contradicts = json.dumps({**VALID, "error_reaction": "pushes_back"})  # no error happened
    fake_openai.script(Reply.text("{not json"), Reply.text(bad_value), Reply.text(contradicts))
    ann = _annotator(fake_model_config, max_retries=2)
    out = await ann.annotate(session("synthetic-llm-3", ["hello there"]))
    turn = out[0]
    assert turn.missing is True and turn.codes == {}
    assert turn.error is not None and "after 3 attempts" in turn.error
    assert "error_reaction must be 'not_applicable'" in turn.error
    assert len(turn.meta["errors"]) == 3 and "shouty" in turn.meta["errors"][1]
    assert fake_openai.calls == 3
    assert out[-1].meta["n_missing"] == 1
    await ann.aclose()


async def test_empty_reply_counts_as_an_invalid_answer(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    """Empty replies (after the client asked as often as τ² does) are one invalid attempt: the
    annotator says so and asks again, and only the next, valid answer becomes codes."""
    n_empty = EMPTY_ANSWER_RETRIES + 1  # what the client sends before calling the model faulty
    fake_openai.script(*[Reply.empty()] * n_empty)
    fake_openai.responder = _answer
    ann = _annotator(fake_model_config, max_retries=3)
    out = await ann.annotate(session("synthetic-llm-4", ["hello there"]))
    turn = out[0]
    assert turn.missing is False and turn.error is None
    assert turn.meta["attempts"] == 2  # the empty reply was attempt 1
    assert turn.codes["register"] == "casual" and turn.codes["error_reaction"] == "not_applicable"
    assert fake_openai.calls == n_empty + 1
    retry = fake_openai.requests[-1]["messages"]
    assert "That answer was invalid: unusable reply" in retry[-1]["content"]
    assert "empty answer" in retry[-1]["content"]
    assert [m["role"] for m in retry] == ["system", "user", "user"]  # nothing to quote back
    await ann.aclose()


async def test_replies_that_stay_empty_become_missing_not_codes(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig
) -> None:
    fake_openai.responder = lambda req: Reply.empty()
    ann = _annotator(fake_model_config, max_retries=1)
    out = await ann.annotate(session("synthetic-llm-6", ["hello there"]))
    turn = out[0]
    assert turn.missing is True and turn.codes == {}
    assert turn.error is not None and "after 2 attempts" in turn.error
    assert "empty answer" in turn.error
    assert turn.meta["attempts"] == 2 and out[-1].meta["n_missing"] == 1
    assert fake_openai.calls == 2 * (EMPTY_ANSWER_RETRIES + 1)
    await ann.aclose()


async def test_cached_answers_replay_without_calls(
    fake_openai: FakeOpenAIServer, fake_model_config: ModelConfig, tmp_path: Path
) -> None:
    fake_openai.script(Reply.text("garbage"))
    fake_openai.responder = _answer
    cache = ResponseCache(tmp_path / "cache.sqlite")
    first = await _annotator(fake_model_config, cache=cache).annotate(_session())
    calls = fake_openai.calls
    second = await _annotator(fake_model_config, cache=cache).annotate(_session())
    assert fake_openai.calls == calls  # everything came from the cache
    assert [a.codes for a in first] == [a.codes for a in second]
    assert second[0].meta["cached"] is True


async def test_unreachable_model_raises_instead_of_recording(tmp_path: Path) -> None:
    cfg = ModelConfig(
        model="openai/fake-model",
        api_base="http://127.0.0.1:9/v1",
        api_key="sk-test",
        timeout_s=1.0,
        max_retries=0,
    )
    ann = _annotator(cfg)
    with pytest.raises(LLMUnavailableError):
        await ann.annotate(session("synthetic-llm-5", ["hello"]))


def test_parse_answer() -> None:
    assert parse_answer('```json\n{"a": 1}\n```') == {"a": 1}
    with pytest.raises(ValueError, match="empty"):
        parse_answer("  ")
    with pytest.raises(ValueError, match="not valid JSON"):
        parse_answer("{'a': 1}")
