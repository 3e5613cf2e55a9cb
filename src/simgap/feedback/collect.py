"""Simulators answer the questionnaire people answer: the library behind `simgap feedback`.

For every finished session of a simulator that has no questionnaire from it yet, the simulator
answers (see `answers.py`). Each answer set is validated against the questionnaire and stored
whole, in one write, so a crash or Ctrl-C loses at most the sessions in flight and a rerun
continues where it stopped. Failures are collected with a one-line cause; nothing partial is
stored for them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from simgap.errors import ConfigError
from simgap.feedback.answers import is_parametric, llm_answers, parametric_answers
from simgap.feedback.questionnaire import PROMPT_VERSION
from simgap.llm.base import LLMError, ModelConfig
from simgap.llm.cache import ResponseCache
from simgap.llm.factory import make_client
from simgap.models import (
    Feedback,
    Questionnaire,
    Session,
    SessionStatus,
    Task,
    Usage,
    UserKind,
    load_questionnaire,
)
from simgap.store import SessionFilter, Store
from simgap.users import UserPreset, get_preset, presets

Progress = Callable[[int, int], None]


@dataclass
class FeedbackSummary:
    """What one `collect_feedback` call did."""

    simulator: str
    sessions: int  # finished sessions of this simulator
    already: int  # with a questionnaire from it before this run
    answered: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (session id, cause)
    usage: Usage = field(default_factory=Usage)
    methods: dict[str, int] = field(default_factory=dict)  # json / repair / per_item / ...
    wall_s: float = 0.0


def resolve_simulator(name: str) -> UserPreset:
    """The preset behind a simulator name as stored in sessions.

    Sessions run with another model (`--user-model`) are stored as `preset:model`; that name
    resolves to the preset with that model.
    """
    if name in presets():
        return get_preset(name)
    base, sep, model = name.partition(":")
    if sep and base in presets():
        preset = get_preset(base)
        if preset.model is not None:
            return preset.with_model(model=model)
    known = ", ".join(sorted(presets()))
    raise ConfigError(f"unknown simulator {name!r}; known: {known} (or PRESET:MODEL)")


class _Scenarios:
    """The τ² user scenario of each session's task (what the person's briefing showed)."""

    def __init__(self) -> None:
        self._tasks: dict[tuple[str, str], Task | None] = {}

    def text(self, s: Session) -> str | None:
        key = (s.domain, s.task_id)
        if key not in self._tasks:
            try:
                from simgap.domains import load_tasks

                found = load_tasks(s.domain, task_ids=[s.task_id])
                self._tasks[key] = found[0] if found else None
            except Exception:  # a task τ² does not know (imported data): no scenario
                self._tasks[key] = None
        task = self._tasks[key]
        return task.scenario_text() if task is not None else None


def collect_feedback(
    store: Store,
    *,
    simulator: str,
    model: ModelConfig | None = None,
    questionnaire: str = "usi",
    concurrency: int = 4,
    use_cache: bool = True,
    per_item: bool = False,
    progress: Progress | None = None,
) -> FeedbackSummary:
    """Questionnaires for every finished session of `simulator` that has none from it yet.

    `model` replaces the answering model of an LLM simulator (the answers are still stored
    under the simulator's name, with the model in `meta.model`). Resumable: sessions that
    already have this simulator's questionnaire are skipped.
    """
    t0 = time.perf_counter()
    preset = resolve_simulator(simulator)
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
    if todo:
        if is_parametric(preset):
            _parametric(store, preset, q, todo, summary, progress)
        else:
            _llm(store, preset, q, todo, summary, progress, concurrency, use_cache, per_item)
    summary.wall_s = time.perf_counter() - t0
    return summary


def _store(
    store: Store,
    s: Session,
    q: Questionnaire,
    summary: FeedbackSummary,
    answers: dict[str, int | str],
    usage: Usage,
    how: str,
    preset: UserPreset,
) -> None:
    store.put_feedback(
        Feedback(
            session_id=s.session_id,
            respondent_kind=s.user_kind if s.user_kind else UserKind.SIMULATOR,
            respondent_id=summary.simulator,
            questionnaire=q.name,
            questionnaire_version=q.version,
            answers=dict(answers),
            usage=usage,
            meta={
                "method": how,
                "synthetic": preset.synthetic,
                "model": preset.model.model if preset.model else None,
                "prompt_version": PROMPT_VERSION if how != "parametric" else None,
            },
        )
    )
    summary.answered += 1
    summary.usage = summary.usage + usage
    summary.methods[how] = summary.methods.get(how, 0) + 1


def _parametric(
    store: Store,
    preset: UserPreset,
    q: Questionnaire,
    todo: list[Session],
    summary: FeedbackSummary,
    progress: Progress | None,
) -> None:
    for i, s in enumerate(todo):
        try:
            answers = parametric_answers(preset, q, s)
        except ConfigError as e:
            summary.failed.append((s.session_id, str(e).splitlines()[0]))
        else:
            _store(store, s, q, summary, answers, Usage(), "parametric", preset)
        if progress:
            progress(i + 1, len(todo))


def _llm(
    store: Store,
    preset: UserPreset,
    q: Questionnaire,
    todo: list[Session],
    summary: FeedbackSummary,
    progress: Progress | None,
    concurrency: int,
    use_cache: bool,
    per_item: bool,
) -> None:
    cfg = preset.model
    assert cfg is not None
    if not cfg.is_local and cfg.api_base is None and cfg.api_base_env:
        raise ConfigError(f"simulator {preset.name!r} needs ${cfg.api_base_env}")
    scenarios = _Scenarios()

    async def run() -> None:
        client = make_client(cfg, cache=ResponseCache() if use_cache else None)
        sem = asyncio.Semaphore(max(1, concurrency))
        done = 0

        async def one(s: Session) -> None:
            nonlocal done
            async with sem:
                try:
                    answers, usage, how = await llm_answers(
                        client, q, s, scenario=scenarios.text(s), per_item=per_item
                    )
                except (ValueError, LLMError) as e:
                    summary.failed.append((s.session_id, str(e).splitlines()[0]))
                else:
                    _store(store, s, q, summary, answers, usage, how, preset)
            done += 1
            if progress:
                progress(done, len(todo))

        try:
            await asyncio.gather(*(one(s) for s in todo))
        finally:
            await client.aclose()

    asyncio.run(run())
