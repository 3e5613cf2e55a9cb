"""Sessions -> the numbers scoring needs: one `ScoredSession` per finished session.

This is the thin layer between records and the array maths. Features come from a stored,
current session-level annotation when there is one (annotator `rules`, same feature version,
same number of turns) and are computed from the text otherwise, so `simgap score` never needs a
prior `simgap annotate`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from simgap.annotate.attribution import attribute_failure
from simgap.annotate.features import FEATURE_NAMES, USI_FEATURES_VERSION, session_features
from simgap.annotate.paper_text import TextSide, paper_session_features
from simgap.annotate.rules import RULES_ANNOTATOR
from simgap.metrics.evaluative import answer_vector
from simgap.metrics.scorer import SIMGAP, Scorer
from simgap.models import (
    Annotation,
    FailureLabel,
    Feedback,
    Questionnaire,
    Session,
    SessionStatus,
    Task,
)


def is_synthetic_session(session: Session) -> bool:
    """Whether a session stands in for a person or a simulator rather than being real data.

    The project labels stand-ins with `meta.synthetic` (or `meta.standin`) and/or `synthetic…`
    batch or user ids; any of these marks the session, so a stand-in reference can never be
    reported as if it were people.
    """
    meta = session.meta
    if meta.get("synthetic") or meta.get("standin"):
        return True
    return any(str(x).lower().startswith("synthetic") for x in (session.batch, session.user_id))


def task_key(session: Session) -> str:
    """How tasks are identified across sets: `<domain>/<task_id>`."""
    return f"{session.domain}/{session.task_id}"


@dataclass(frozen=True)
class ScoredSession:
    session_id: str
    task: str
    trial: int
    user_id: str
    batch: str
    features: NDArray[np.float64] | None  # FEATURE_NAMES order; None: no user words
    success: float | None  # 1.0 / 0.0 (τ² reward = 1), None when there is no reward
    answers: NDArray[np.float64] | None  # normalised questionnaire answers; None: no feedback
    synthetic: bool = False
    # Who caused the failure of a failed session ("agent" | "user" | "environment"); None for
    # sessions that did not fail or have no reward (annotate.attribution).
    failure: str | None = None
    # Counts only for Eval (its questionnaire): a survey without a conversation, or (paper
    # scorer) the questionnaire of a simulator session the authors excluded (keep=false).
    eval_only: bool = False
    # A second person's answers on this (person's) conversation and their position in the
    # source file: the paper scorer's human-ceiling Eval.
    rater2: NDArray[np.float64] | None = None
    rater2_order: int = 0
    # The agent the session ran against: its name, and its model when it has one
    # ("probe", "llm on local"): every report row says which agent its numbers are about.
    agent: str = ""


def agent_label(name: str, model: str) -> str:
    return name if model in ("", "none") else f"{name} on {model}"


@dataclass
class Reduction:
    sessions: list[ScoredSession] = field(default_factory=list)
    not_finished: int = 0  # running or failed sessions: not scored
    no_user_words: int = 0  # finished, but the user said nothing countable
    no_reward: int = 0  # finished, but no τ² reward: left out of SR and calibration
    eval_only: int = 0  # questionnaires without a scored conversation (Eval only)
    features_from_annotations: int = 0
    features_computed: int = 0
    # Failure labels: by who labelled them ("rules", "llm:<model>"), and the labels themselves
    # (session_id -> label) for the score file's counts and evidence.
    failure_labellers: dict[str, int] = field(default_factory=dict)
    failure_labels: dict[str, FailureLabel] = field(default_factory=dict)
    # Every conversation read, by `SessionCategory` (completed, model_failure, infra_error,
    # running): what each success rate's denominator holds and what it leaves out.
    categories: dict[str, int] = field(default_factory=dict)


def stored_features(ann: Annotation | None, session: Session) -> dict[str, float] | None:
    """The USI features of a stored session-level annotation if they are still current."""
    if ann is None or ann.turn_idx is not None or ann.missing:
        return None
    meta = ann.meta
    if meta.get("usi_features_version") != USI_FEATURES_VERSION:
        return None
    if meta.get("n_turns") != len(session.turns) or not meta.get("has_usi_features"):
        return None
    if not all(f in ann.features for f in FEATURE_NAMES):
        return None
    return {f: ann.features[f] for f in FEATURE_NAMES}


def pick_feedback(session: Session, feedback: Sequence[Feedback]) -> Feedback | None:
    """The questionnaire the session's own user filled in (person or simulator)."""
    for fb in feedback:
        if (
            fb.questionnaire == "usi"
            and fb.respondent_kind == session.user_kind
            and not fb.meta.get("second_rater")
        ):
            return fb
    return None


def second_rater(feedback: Sequence[Feedback]) -> Feedback | None:
    """Another person's questionnaire on this conversation (the paper's ceiling Eval)."""
    for fb in feedback:
        if fb.questionnaire == "usi" and fb.meta.get("second_rater"):
            return fb
    return None


def _inline_tau_usi_survey(fb: Feedback) -> bool:
    """A survey that came inside a tau-usi runs file (not from survey_comparable_*.json)."""
    return fb.meta.get("source") == "tau-usi" and not fb.meta.get("survey_file")


def _answers(fb: Feedback | None, q: Questionnaire, scorer: Scorer) -> NDArray[np.float64] | None:
    """Normalised answers; under the paper's exact-label rule an answer the scorer could not
    read (`meta.inexact`, e.g. "4" for "4 (Good)") is blank."""
    if fb is None:
        return None
    vec = answer_vector(fb, q)
    if scorer.survey == "exact":
        inexact = set(fb.meta.get("inexact") or ())
        for i, item in enumerate(q.scored_items):
            if item.field in inexact:
                vec[i] = np.nan
    return vec


def _features(
    s: Session, ann: Annotation | None, scorer: Scorer, side: TextSide
) -> tuple[dict[str, float] | None, bool]:
    """(features, from a stored annotation?). The paper's text rules always read the text."""
    if scorer.text == "paper":
        return paper_session_features(s, side), False
    feats = stored_features(ann, s)
    if feats is not None:
        return feats, True
    return session_features(s), False


def reduce_sessions(
    sessions: Iterable[Session],
    *,
    feedback: Mapping[str, Sequence[Feedback]],
    questionnaire: Questionnaire,
    annotations: Mapping[str, Annotation] | None = None,
    failure_labels: Mapping[str, FailureLabel] | None = None,
    tasks: Mapping[str, Task] | None = None,
    scorer: Scorer = SIMGAP,
    side: TextSide = "llm",
) -> Reduction:
    """Keep finished sessions and reduce each to features, success, answers and, for a failed
    session, who caused the failure (a stored label when given, else the rules; `tasks` by
    `<domain>/<task_id>` give the rules the user's scenario).

    `scorer` picks the rules (metrics.scorer); `side` is "human" for the reference and "llm"
    for a candidate (the paper's text rules clean the two differently).
    """
    out = Reduction()
    annotations = annotations or {}
    failure_labels = failure_labels or {}
    tasks = tasks or {}
    for s in sessions:
        if not s.meta.get("survey_only"):
            cat = s.category.value
            out.categories[cat] = out.categories.get(cat, 0) + 1
        fbs = feedback.get(s.session_id, ())
        if scorer.survey == "exact" and side == "llm":
            # The reference scorer reads a simulator's answers only from its
            # survey_comparable_<model>.json, never the surveys inside its runs file.
            fbs = [fb for fb in fbs if not _inline_tau_usi_survey(fb)]
        if s.meta.get("survey_only") or s.status != SessionStatus.DONE:
            # A survey without a conversation counts for Eval only; so does, under the
            # paper's rules, the questionnaire of a simulator session excluded by keep=false.
            fb = pick_feedback(s, fbs)
            usable = s.meta.get("survey_only") and s.status == SessionStatus.DONE
            usable = usable or (
                scorer.survey == "exact" and side == "llm" and s.meta.get("keep") is False
            )
            if fb is not None and usable:
                out.eval_only += 1
                out.sessions.append(
                    ScoredSession(
                        session_id=s.session_id,
                        task=task_key(s),
                        trial=s.trial,
                        user_id=s.user_id,
                        batch=s.batch,
                        features=None,
                        success=None,
                        answers=_answers(fb, questionnaire, scorer),
                        synthetic=is_synthetic_session(s),
                        eval_only=True,
                    )
                )
            if not s.meta.get("survey_only"):
                out.not_finished += 1
            continue
        feats, stored = _features(s, annotations.get(s.session_id), scorer, side)
        if stored:
            out.features_from_annotations += 1
        else:
            out.features_computed += 1
        if feats is None:
            out.no_user_words += 1
        if s.reward is None:
            out.no_reward += 1
        fb = pick_feedback(s, fbs)
        r2 = second_rater(fbs)
        success: float | None = None
        if s.reward is not None:
            ok = s.reward.value > 0 if scorer.success == "reward_positive" else s.reward.success
            success = 1.0 if ok else 0.0
        label: FailureLabel | None = None
        if success is not None and success < 1.0:
            label = failure_labels.get(s.session_id) or attribute_failure(s, tasks.get(task_key(s)))
        if label is not None:
            out.failure_labels[s.session_id] = label
            out.failure_labellers[label.labeller] = out.failure_labellers.get(label.labeller, 0) + 1
        out.sessions.append(
            ScoredSession(
                session_id=s.session_id,
                task=task_key(s),
                trial=s.trial,
                user_id=s.user_id,
                batch=s.batch,
                features=None
                if feats is None
                else np.array([feats[f] for f in FEATURE_NAMES], dtype=np.float64),
                success=success,
                answers=_answers(fb, questionnaire, scorer),
                synthetic=is_synthetic_session(s),
                failure=None if label is None else label.cause.value,
                rater2=_answers(r2, questionnaire, scorer),
                rater2_order=0 if r2 is None else int(r2.meta.get("order", 0)),
                agent=agent_label(s.agent.name, s.agent.model),
            )
        )
    return out


def rules_annotations(annotations: Iterable[Annotation]) -> dict[str, Annotation]:
    """session_id -> its session-level `rules` annotation (the newest if several)."""
    out: dict[str, Annotation] = {}
    for a in annotations:
        if a.annotator == RULES_ANNOTATOR and a.turn_idx is None:
            prev = out.get(a.session_id)
            if prev is None or a.created_at >= prev.created_at:
                out[a.session_id] = a
    return out


def failure_labels(annotations: Iterable[Annotation]) -> dict[str, FailureLabel]:
    """session_id -> its stored failure label; an LLM judge's label wins over the rules', and
    the newest wins among equals."""
    best: dict[str, tuple[int, Annotation, FailureLabel]] = {}
    for a in annotations:
        label = FailureLabel.from_annotation(a)
        if label is None:
            continue
        rank = 1 if label.labeller.startswith("llm:") and "judge_failed" not in label.meta else 0
        prev = best.get(a.session_id)
        if prev is None or (rank, a.created_at) >= (prev[0], prev[1].created_at):
            best[a.session_id] = (rank, a, label)
    return {sid: v[2] for sid, v in best.items()}
