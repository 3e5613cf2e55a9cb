"""Simulators answer the questionnaire people answer: the library behind `simgap feedback`.

For every finished session of a simulator that has no questionnaire from it yet, the simulator
answers it: an LLM simulator through its model (see `questionnaire.py`), a parametric one
(`behavior`, `standin`, `grounded` on the behavior engine) by sampling its profile's answer
distributions with the session's seed. Each answer set is validated against the questionnaire
and stored whole, in one write, so a crash or Ctrl-C loses at most the sessions in flight and
a rerun continues where it stopped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from simgap.errors import ConfigError
from simgap.feedback.questionnaire import (
    choices,
    customer_transcript,
    item_prompt,
    json_prompt,
    parse_item_answer,
    parse_json_answers,
)
from simgap.llm.base import LLMClient, LLMError, ModelConfig
from simgap.llm.cache import ResponseCache
from simgap.llm.factory import make_client
from simgap.models import (
    Feedback,
    ItemKind,
    Questionnaire,
    Session,
    SessionStatus,
    Usage,
    UserKind,
    load_questionnaire,
)
from simgap.store import SessionFilter, Store
from simgap.users import UserPreset, get_preset
from simgap.users.kinds import preset_profile
from simgap.users.profile import AnswerDist, nearest_option, sample_answer_position

DEFAULT_ANSWER = AnswerDist(mean=0.8, sd=0.15)
FEEDBACK_MAX_TOKENS = 400
ITEM_ATTEMPTS = 3


@dataclass
class FeedbackSummary:
    simulator: str
    sessions: int  # finished sessions of this simulator
    already: int  # with a questionnaire before this run
    answered: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    methods: dict[str, int] = field(default_factory=dict)


def is_parametric(preset: UserPreset) -> bool:
    return preset.model is None or (
        preset.kind == "grounded" and preset.settings.get("engine", "behavior") != "llm"
    )


def parametric_answers(
    preset: UserPreset, q: Questionnaire, seed: int | None
) -> dict[str, int | str]:
    """Answers drawn from the profile's per-field distributions (seeded by the session)."""
    profile = preset_profile(preset)
    rng = np.random.default_rng([seed or 0, 7])
    out: dict[str, int | str] = {}
    for item in q.scored_items:
        pos = sample_answer_position(profile.feedback.get(item.field, DEFAULT_ANSWER), rng)
        opts = choices(item)
        if item.kind == ItemKind.LIKERT:
            values = [float(o) for o in opts]
        else:
            values = [float(v) for v in item.option_values] or [float(i) for i in range(len(opts))]
        pick = opts[nearest_option(pos, values)]
        value = item.validate_answer(pick)
        assert value is not None
        out[item.field] = value
    return out


async def llm_answers(
    client: LLMClient, q: Questionnaire, session: Session
) -> tuple[dict[str, int | str], Usage, str]:
    """JSON answers, one repair, then item by item. Raises ValueError with the cause."""
    transcript = customer_transcript(session.turns)
    usage = Usage()
    messages = json_prompt(q, transcript)
    seed = session.seed
    # The embedded 135M model almost never writes valid JSON for eight fields: it goes item by
    # item straight away (its KV cache keeps the shared transcript, so each item is cheap).
    json_attempts = 0 if client.config.is_local else 2
    for attempt in range(json_attempts):
        resp = await client.complete(
            client.request(messages, seed=seed, max_tokens=FEEDBACK_MAX_TOKENS)
        )
        usage = usage + resp.usage
        try:
            return parse_json_answers(q, resp.content), usage, "json" if attempt == 0 else "repair"
        except ValueError as e:
            messages = [
                *messages,
                {"role": "assistant", "content": resp.content or ""},
                {
                    "role": "user",
                    "content": f"That answer is not valid: {e}. Reply with the JSON object "
                    "only, every field, each value copied exactly from its options.",
                },
            ]
    out: dict[str, int | str] = {}
    for item in q.scored_items:
        for attempt in range(ITEM_ATTEMPTS):  # a small model sometimes answers off-format
            resp = await client.complete(
                client.request(
                    item_prompt(item, transcript),
                    seed=None if seed is None else seed + attempt,
                    max_tokens=8,
                )
            )
            usage = usage + resp.usage
            try:
                out[item.field] = parse_item_answer(item, resp.content)
                break
            except ValueError:
                if attempt == ITEM_ATTEMPTS - 1:
                    raise
    return out, usage, "per_item"


def collect_feedback(
    store: Store,
    *,
    simulator: str,
    model: ModelConfig | None = None,
    questionnaire: str = "usi",
    concurrency: int = 4,
    use_cache: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> FeedbackSummary:
    """Questionnaires for every finished session of `simulator` that has none from it yet."""
    preset = get_preset(simulator)
    if model is not None and preset.model is not None:
        preset = preset.with_model(**model.model_dump(exclude_unset=True))
    q = load_questionnaire(questionnaire)
    flt = SessionFilter(user_ids=[simulator], statuses=[SessionStatus.DONE])
    sessions = list(store.iter_sessions(flt))
    have = {
        f.session_id
        for f in store.get_feedback([s.session_id for s in sessions], questionnaire=q.name)
        if f.respondent_id == simulator
    }
    todo = [s for s in sessions if s.session_id not in have]
    summary = FeedbackSummary(simulator=simulator, sessions=len(sessions), already=len(have))
    if not todo:
        return summary

    def store_answers(s: Session, answers: dict[str, int | str], usage: Usage, how: str) -> None:
        store.put_feedback(
            Feedback(
                session_id=s.session_id,
                respondent_kind=s.user_kind if s.user_kind else UserKind.SIMULATOR,
                respondent_id=simulator,
                questionnaire=q.name,
                questionnaire_version=q.version,
                answers=dict(answers),
                usage=usage,
                meta={"method": how, "synthetic": preset.synthetic},
            )
        )
        summary.answered += 1
        summary.usage = summary.usage + usage
        summary.methods[how] = summary.methods.get(how, 0) + 1

    if is_parametric(preset):
        for i, s in enumerate(todo):
            store_answers(s, parametric_answers(preset, q, s.seed), Usage(), "parametric")
            if progress:
                progress(i + 1, len(todo))
        return summary

    assert preset.model is not None
    model_cfg = preset.model

    async def run() -> None:
        cache = ResponseCache() if use_cache else None
        client = make_client(model_cfg, cache=cache)
        sem = asyncio.Semaphore(max(1, concurrency))
        done = 0

        async def one(s: Session) -> None:
            nonlocal done
            async with sem:
                try:
                    answers, usage, how = await llm_answers(client, q, s)
                except (ValueError, LLMError) as e:
                    summary.failed.append((s.session_id, str(e).splitlines()[0]))
                else:
                    store_answers(s, answers, usage, how)
            done += 1
            if progress:
                progress(done, len(todo))

        try:
            await asyncio.gather(*(one(s) for s in todo))
        finally:
            await client.aclose()

    if not model_cfg.is_local and model_cfg.api_base is None and model_cfg.api_base_env:
        raise ConfigError(f"simulator {simulator!r} needs ${model_cfg.api_base_env}")
    asyncio.run(run())
    return summary
