"""Score candidate simulators against a human reference: the leaderboard.

`score_sets` is the library entry point behind `simgap score` (and what the report stage
calls). What it returns (`Leaderboard`, with its JSON schema `simgap.score/1` and CSV) is in
`metrics.board`; the rules it scores by (simgap's or the paper's) in `metrics.scorer`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simgap.annotate.features import FEATURE_NAMES
from simgap.annotate.paper_text import TextSide
from simgap.metrics.board import (
    CEILING_LABEL,
    EVIDENCE_PER_REASON,
    RESAMPLING_DETAIL,
    SCHEMA,
    SIMULATOR_CEILING_LABEL,
    SYNTHETIC_CEILING_LABEL,
    Leaderboard,
    Row,
    ScoreSettings,
)
from simgap.metrics.calibration import PAPER_MIN_SAMPLES, bin_indices, pooled_difficulty
from simgap.metrics.ceiling import batch_pairs, split_pairs
from simgap.metrics.core import Array, Pair, Side, build_pairs, build_side
from simgap.metrics.details import (
    DETAILS_VERSION,
    HEAD_TURNS,
    MAX_TURN_CHARS,
    MAX_TURNS,
    TAIL_TURNS,
    answer_distribution,
    example_records,
    pick_examples,
    questionnaire_info,
    session_answers,
)
from simgap.metrics.estimate import QUANTITIES, Estimate, evaluate_pairs
from simgap.metrics.evaluative import field_levels
from simgap.metrics.gaps import gap_lines
from simgap.metrics.inputs import LoadedSet
from simgap.metrics.noise import NoiseFloor, noise_floor
from simgap.metrics.paper_data import PAPER_MAP_TASKS, paper_difficulty
from simgap.metrics.passk import pass_k_block, reference_pass_k, tries
from simgap.metrics.permutation import Comparison, paired_permutation_test, with_noise_floor
from simgap.metrics.scorer import RULES, SIMGAP, Scorer
from simgap.metrics.table import Reduction, ScoredSession, reduce_sessions
from simgap.models import FailureReason, Session, SessionStatus, Task, load_questionnaire

__all__ = [
    "CEILING_LABEL",
    "RESAMPLING_DETAIL",
    "SCHEMA",
    "SIMULATOR_CEILING_LABEL",
    "SYNTHETIC_CEILING_LABEL",
    "Leaderboard",
    "Row",
    "ScoreSettings",
    "ScoredSet",
    "score_scored",
    "score_sets",
]


# -- building blocks -------------------------------------------------------------------------
def _reduce(
    ls: LoadedSet, q: Any, tasks: Mapping[str, Task] | None, scorer: Scorer, side: TextSide
) -> Reduction:
    return reduce_sessions(
        ls.sessions,
        feedback=ls.feedback,
        questionnaire=q,
        annotations=ls.annotations,
        failure_labels=ls.failure_labels,
        tasks=tasks,
        scorer=scorer,
        side=side,
    )


def _failure_summary(red: Reduction, universe: set[str]) -> dict[str, Any]:
    """Counts of failed sessions by cause and reason on the compared tasks, who labelled them,
    and a few labels per reason with their evidence turn (docs/metrics.md §7)."""
    scored = [s for s in red.sessions if s.task in universe and s.success is not None]
    failed = [s for s in scored if s.success is not None and s.success < 1.0]
    by_cause = {c: 0 for c in ("agent", "user", "environment")}
    for s in failed:
        if s.failure in by_cause:
            by_cause[s.failure] += 1
    labels = [
        red.failure_labels[s.session_id] for s in failed if s.session_id in red.failure_labels
    ]
    by_reason: dict[str, int] = {}
    labellers: dict[str, int] = {}
    evidence: list[dict[str, Any]] = []
    shown: dict[str, int] = {}
    for lab in sorted(labels, key=lambda x: x.session_id):
        by_reason[lab.reason.value] = by_reason.get(lab.reason.value, 0) + 1
        labellers[lab.labeller] = labellers.get(lab.labeller, 0) + 1
        if shown.get(lab.reason.value, 0) < EVIDENCE_PER_REASON:
            shown[lab.reason.value] = shown.get(lab.reason.value, 0) + 1
            evidence.append(
                {
                    "session_id": lab.session_id,
                    "cause": lab.cause.value,
                    "reason": lab.reason.value,
                    "labeller": lab.labeller,
                    "evidence_turn": lab.evidence_turn,
                    "evidence": lab.evidence,
                }
            )
    order = [r.value for r in FailureReason]
    return {
        "n_with_outcome": len(scored),
        "n_failed": len(failed),
        "by_cause": by_cause,
        "unattributed": len(failed) - sum(by_cause.values()),
        "by_reason": {r: by_reason[r] for r in order if r in by_reason},
        "labellers": labellers,
        "evidence": evidence,
    }


def _features(point: Sequence[Any], universe_ok: bool) -> dict[str, dict[str, float | None]]:
    """Pooled feature values (mean over pairs) and their Dice closeness, per feature."""
    if not point or not universe_ok:
        return {f: {"candidate": None, "reference": None, "dice": None} for f in FEATURE_NAMES}
    cand = np.stack([p.cand_features[0] for p in point])
    ref = np.stack([p.ref_features[0] for p in point])
    dice = np.stack([p.feature_dice[0] for p in point])

    def m(x: Array, i: int) -> float | None:
        col = x[:, i]
        col = col[np.isfinite(col)]
        return float(col.mean()) if col.size else None

    return {
        f: {"candidate": m(cand, i), "reference": m(ref, i), "dice": m(dice, i)}
        for i, f in enumerate(FEATURE_NAMES)
    }


def _gap_lines(features: dict[str, dict[str, float | None]], who: str) -> list[str]:
    ref = {f: v["reference"] for f, v in features.items() if v["reference"] is not None}
    cand = {f: v["candidate"] for f, v in features.items() if v["candidate"] is not None}
    return gap_lines(ref, cand, who=who)


def _row(
    *,
    label: str,
    kind: str,
    spec: str,
    user_ids: list[str],
    pairs: list[Pair],
    labels: list[str],
    sessions: Sequence[ScoredSession],
    task_names: Sequence[str],
    bins: NDArray[np.int64],
    settings: ScoreSettings,
    rng: np.random.Generator,
    excluded: dict[str, int],
    who: str,
    synthetic: bool,
    reduction: Reduction | None = None,
) -> Row:
    res = evaluate_pairs(pairs, labels, n_boot=settings.n_boot, rng=rng, level=settings.ci_level)
    universe = {task_names[i] for i in res.universe}
    excluded = dict(excluded)
    excluded["tasks_without_difficulty"] = int((bins[res.universe] < 0).sum())
    features = _features(res.point, bool(universe))
    notes: list[str] = []
    if res.estimates["Eval"].value is None:
        notes.append("Eval n/a (no questionnaire answers on one side); USI averages 5 components")
    if res.estimates["Cal"].value is None:
        notes.append("calibration n/a (no task with outcomes on both sides and a difficulty)")
    return Row(
        label=label,
        kind=kind,
        spec=spec,
        user_ids=user_ids,
        n_sessions=sum(1 for s in sessions if s.task in universe and not s.eval_only),
        n_tasks=len(universe),
        estimates=res.estimates,
        excluded=excluded,
        features=features,
        gaps=_gap_lines(features, who),
        notes=notes,
        synthetic=synthetic,
        tasks=sorted(universe),
        failures={} if reduction is None else _failure_summary(reduction, universe),
        categories={} if reduction is None else dict(reduction.categories),
        agents=sorted({s.agent for s in sessions if s.task in universe and s.agent}),
    )


def _features_source(red: Reduction) -> dict[str, int]:
    return {
        "stored_rules_annotations": red.features_from_annotations,
        "computed_from_text": red.features_computed,
    }


def _exclusions(red: Reduction) -> dict[str, int]:
    return {
        "unfinished_sessions": red.not_finished,
        "sessions_without_user_words": red.no_user_words,
        "sessions_without_reward": red.no_reward,
        # questionnaires without a scored conversation: a survey with no run, or (paper mode)
        # an excluded simulator session's survey; they count for Eval only
        "eval_only_sessions": red.eval_only,
    }


# -- the entry point -------------------------------------------------------------------------
@dataclass
class ScoredSet:
    """A set reduced to numbers (what scoring needs), with how it is named and labelled."""

    label: str
    spec: str
    user_ids: list[str]
    synthetic: bool
    reduction: Reduction
    # For the score file's `details` (report): finished sessions by id (their text) and each
    # one's questionnaire answers as level positions. Left empty/None by callers that only
    # have numbers; the details then leave out what they cannot show.
    sessions: dict[str, Session] = field(default_factory=dict)
    answers: dict[str, dict[str, int]] | None = None
    # "people", "synthetic" or "simulator" (see metrics.inputs.reference_kind); a reference is
    # called people only when it is.
    kind: str = "people"

    @classmethod
    def from_loaded(
        cls,
        ls: LoadedSet,
        tasks: Mapping[str, Task] | None = None,
        *,
        scorer: Scorer = SIMGAP,
        side: TextSide = "llm",
    ) -> ScoredSet:
        """`tasks` (by `<domain>/<task_id>`) give failure attribution the users' scenarios;
        `scorer` and `side` ("human": the reference) decide how sessions become numbers."""
        q = load_questionnaire("usi")
        return cls(
            label=ls.label,
            spec=ls.spec.text,
            user_ids=ls.user_ids,
            synthetic=ls.synthetic,
            reduction=_reduce(ls, q, tasks, scorer, side),
            sessions={s.session_id: s for s in ls.sessions if s.status == SessionStatus.DONE},
            answers=session_answers(ls.sessions, ls.feedback, q),
            kind=ls.kind,
        )


def score_sets(
    reference: LoadedSet,
    candidates: Sequence[LoadedSet],
    settings: ScoreSettings | None = None,
    *,
    tasks: Mapping[str, Task] | None = None,
) -> Leaderboard:
    """The leaderboard of `candidates` against the people in `reference` (with the ceiling).
    `tasks` (optional) give failure attribution the users' scenarios."""
    settings = settings or ScoreSettings()
    sc = settings.scorer
    return score_scored(
        ScoredSet.from_loaded(reference, tasks, scorer=sc, side="human"),
        [ScoredSet.from_loaded(c, tasks, scorer=sc, side="llm") for c in candidates],
        settings,
    )


def score_scored(
    reference: ScoredSet, candidates: Sequence[ScoredSet], settings: ScoreSettings | None = None
) -> Leaderboard:
    """`score_sets` on sets already reduced to `ScoredSession`s (benchmarks, other importers).
    The sets must have been reduced under `settings.scorer` (`ScoredSet.from_loaded`)."""
    settings = settings or ScoreSettings()
    scorer = settings.scorer
    rng = np.random.default_rng(settings.seed)
    # pass^k intervals draw from their own stream, so adding them moved no other number.
    passk_rng = np.random.default_rng([settings.seed, 5])
    levels = field_levels(load_questionnaire("usi"))

    ref_red = reference.reduction
    batches: dict[str, list[ScoredSession]] = defaultdict(list)
    for s in ref_red.sessions:
        batches[s.batch].append(s)
    cand_reds = [c.reduction for c in candidates]

    tasks = sorted(
        {s.task for s in ref_red.sessions} | {s.task for r in cand_reds for s in r.sessions}
    )
    index = {t: i for i, t in enumerate(tasks)}
    notes: list[str] = []
    simulator_ref = reference.kind == "simulator" and not reference.synthetic
    who = (
        "the synthetic reference"
        if reference.synthetic
        else "the reference"
        if simulator_ref
        else "people"
    )
    if reference.synthetic:
        notes.append(
            "the reference set is SYNTHETIC (stand-in sessions labelled synthetic, not people)"
        )
    if simulator_ref:
        notes.append(
            f"the reference is not people: sessions of simulator(s) "
            f"{', '.join(reference.user_ids) or '?'}; scores measure agreement with them, "
            "not human-likeness"
        )

    # Task difficulty for calibration: frozen map, else the scorer's default (the paper's
    # frozen map, or pooled over the candidates' outcomes).
    if settings.difficulty is not None:
        difficulty = dict(settings.difficulty)
    elif scorer.difficulty == "paper_map":
        difficulty = paper_difficulty()
        notes.append(
            f"task difficulty: the authors' frozen map of the paper's {PAPER_MAP_TASKS} tasks "
            "(31 simulators pooled; tasks outside it are left out of calibration)"
        )
    else:
        pool = [r.sessions for r in cand_reds] or [ref_red.sessions]
        outcomes = [(s.task, s.success) for ss in pool for s in ss if s.success is not None]
        difficulty = pooled_difficulty(outcomes, min_samples=settings.min_samples)
        src = "candidates' pooled success" if cand_reds else "reference's pooled success"
        notes.append(
            f"task difficulty from the data at hand ({src}, ≥{settings.min_samples} "
            f"outcome(s) per task; the paper froze it over 31 simulators, ≥{PAPER_MIN_SAMPLES})"
        )
    if any(getattr(scorer, r) != getattr(SIMGAP, r) for r in RULES):
        notes.append(
            f"scored under the {scorer.name!r} rules ("
            + ", ".join(f"{r}={getattr(scorer, r)}" for r in RULES)
            + "; docs/metrics.md, Paper mode)"
        )
    bins = bin_indices(np.array([difficulty.get(t, np.nan) for t in tasks], dtype=np.float64))

    ref_sides: dict[str, Side] = {
        b: build_side(ss, index, single_trial=True) for b, ss in sorted(batches.items())
    }
    ref_tasks = {s.task for s in ref_red.sessions}
    has_ref_feedback = any(s.answers is not None for s in ref_red.sessions)
    if ref_red.sessions and not has_ref_feedback:
        notes.append("the reference has no questionnaire answers: Eval = n/a for every row")
    if not ref_red.sessions:
        notes.append("the reference set has no finished sessions: nothing can be scored")

    # Ceiling: disjoint batches, or random halves of a single batch.
    ceiling: Row | None = None
    if len(batches) >= 2:
        pairs, labels = batch_pairs(batches, index, bins=bins, levels=levels, scorer=scorer)
        ceil_note = f"ceiling from {len(pairs)} pair(s) of disjoint batches ({', '.join(labels)})"
    elif len(batches) == 1:
        only = next(iter(batches.values()))
        pairs, labels = split_pairs(
            only,
            index,
            bins=bins,
            levels=levels,
            n_splits=settings.ceiling_splits,
            rng=rng,
            scorer=scorer,
        )
        ceil_note = (
            f"only one reference batch: ceiling from {len(pairs)} random half-splits of its "
            f"people per task (seed {settings.seed}); single-session tasks left out"
        )
        notes.append("only one reference batch: candidate std over batches is n/a")
    else:
        pairs, labels, ceil_note = [], [], ""
    if pairs:
        ceiling = _row(
            label=SYNTHETIC_CEILING_LABEL
            if reference.synthetic
            else SIMULATOR_CEILING_LABEL
            if simulator_ref
            else CEILING_LABEL,
            kind="ceiling",
            spec=reference.spec,
            user_ids=[],
            pairs=pairs,
            labels=labels,
            sessions=ref_red.sessions,
            task_names=tasks,
            bins=bins,
            settings=settings,
            rng=rng,
            excluded=_exclusions(ref_red),
            who=who,
            synthetic=reference.synthetic,
            reduction=ref_red,
        )
        ceiling.notes.insert(0, ceil_note)
        ceiling.features_source = _features_source(ref_red)
        if scorer.ceiling_eval == "second_rater":
            _second_rater_eval(ceiling, pairs[0])

    rows: list[Row] = []
    cand_sides: list[tuple[str, Side]] = []
    for cs, red in zip(candidates, cand_reds, strict=True):
        side = build_side(red.sessions, index)
        cand_sides.append((cs.label, side))
        cand_tasks = {s.task for s in red.sessions if not s.eval_only}
        excluded = {
            **_exclusions(red),
            "candidate_only_tasks": len(cand_tasks - ref_tasks),
            "reference_only_tasks": len(ref_tasks - cand_tasks),
        }
        if not ref_sides or not cand_tasks & ref_tasks:
            rows.append(_empty_row(cs, excluded, "no task in common with the reference"))
            continue
        pairs = build_pairs(side, list(ref_sides.values()), bins=bins, levels=levels, scorer=scorer)
        row = _row(
            label=cs.label,
            kind="candidate",
            spec=cs.spec,
            user_ids=cs.user_ids,
            pairs=pairs,
            labels=list(ref_sides),
            sessions=red.sessions,
            task_names=tasks,
            bins=bins,
            settings=settings,
            rng=rng,
            excluded=excluded,
            who=who,
            synthetic=cs.synthetic,
            reduction=red,
        )
        row.features_source = _features_source(red)
        row.pass_k = pass_k_block(
            red.sessions,
            ref_red.sessions,
            row.tasks,
            n_boot=settings.n_boot,
            rng=passk_rng,
            level=settings.ci_level,
        )
        if settings.repeats != 0:
            row.noise_floor = noise_floor(
                red.sessions,
                ref_sides,
                index,
                bins=bins,
                levels=levels,
                repeats=settings.repeats,
                scorer=scorer,
            )
        if cs.synthetic:
            row.notes.append("candidate sessions are labelled synthetic")
        rows.append(row)
    rows.sort(key=lambda r: -(r.usi if r.usi is not None else -1e9))

    comparisons: list[Comparison] = []
    floors = {r.label: r.noise_floor for r in rows}
    if settings.n_permutations > 0 and len(cand_sides) >= 2 and ref_sides:
        for a, b in combinations(cand_sides, 2):
            cmp = paired_permutation_test(
                a,
                b,
                ref_sides,
                bins=bins,
                levels=levels,
                n_permutations=settings.n_permutations,
                rng=rng,
                scorer=scorer,
            )
            fa, fb = floors.get(a[0]), floors.get(b[0])
            comparisons.append(
                with_noise_floor(
                    cmp,
                    usi_floor=(_spread(fa, "USI"), _spread(fb, "USI")),
                    sr_floor=(_spread(fa, "SR_sim"), _spread(fb, "SR_sim")),
                    alpha=settings.alpha,
                )
            )

    _mark_ties(rows, comparisons)

    reference_info = {
        "spec": reference.spec,
        "label": reference.label,
        "synthetic": reference.synthetic,
        "kind": "synthetic" if reference.synthetic else reference.kind,
        "simulators": reference.user_ids if simulator_ref else [],
        "n_sessions": len(ref_red.sessions),
        "n_tasks": len(ref_tasks),
        "batches": {b: len(ss) for b, ss in sorted(batches.items())},
        "eval_available": has_ref_feedback,
        "excluded": _exclusions(ref_red),
        "sessions_by_category": dict(ref_red.categories),
        "features_source": _features_source(ref_red),
        "tasks_with_difficulty": int((bins >= 0).sum()),
        "synthetic_sessions": sum(1 for s in ref_red.sessions if s.synthetic),
        "pass_k": [
            p.to_json()
            for p in reference_pass_k(
                tries(ref_red.sessions),
                n_boot=settings.n_boot,
                rng=passk_rng,
                level=settings.ci_level,
            )
        ],
    }
    return Leaderboard(
        reference=reference_info,
        settings=settings,
        ceiling=ceiling,
        rows=rows,
        comparisons=comparisons,
        notes=notes,
        details=_details(reference, candidates, rows, settings, who),
    )


def _second_rater_eval(ceiling: Row, pair: Pair) -> None:
    """The paper's ceiling Eval is one set of tasks (a second person on the same batch-1
    conversations): its std is over tasks, not over pairs of batches."""
    est = ceiling.estimates["Eval"]
    vals = pair.eval_task[np.isfinite(pair.eval_task)]
    if est.value is None or vals.size == 0:
        ceiling.notes[:] = [n for n in ceiling.notes if not n.startswith("Eval n/a")]
        ceiling.notes.append(
            "Eval n/a: no second person rated the first batch's conversations "
            "(the paper's ceiling Eval); USI averages 5 components"
        )
        return
    ceiling.estimates["Eval"] = replace(
        est, std=float(vals.std()), per_batch={"second_rater": float(vals.mean())}
    )
    ceiling.notes.append(
        f"Eval: a second person rating the same first-batch conversations on {vals.size} "
        "task(s) (the paper's ceiling Eval), std over tasks"
    )


def _details(
    reference: ScoredSet,
    candidates: Sequence[ScoredSet],
    rows: Sequence[Row],
    settings: ScoreSettings,
    who: str,
) -> dict[str, Any] | None:
    """Answer distributions and example conversations for the report (docs/metrics.md §9)."""
    if reference.answers is None and not reference.sessions:
        return None  # sets given as numbers only: nothing to add
    q = load_questionnaire("usi")
    by_label = {r.label: r for r in rows}
    answers: dict[str, Any] = {"reference": None, "candidates": {}}
    if reference.answers is not None:
        ids = [s.session_id for s in reference.reduction.sessions]
        answers["reference"] = answer_distribution(reference.answers, ids, q)
    examples: dict[str, list[dict[str, Any]]] = {}
    for cs in candidates:
        row = by_label.get(cs.label)
        universe = set(row.tasks) if row is not None else set()
        if cs.answers is not None:
            ids = [s.session_id for s in cs.reduction.sessions if s.task in universe]
            answers["candidates"][cs.label] = answer_distribution(cs.answers, ids, q)
        if row is None or not cs.sessions or settings.n_examples <= 0:
            continue
        picks = pick_examples(
            features=row.features,
            cand_sessions=cs.reduction.sessions,
            ref_sessions=reference.reduction.sessions,
            universe=universe,
            n=settings.n_examples,
        )
        examples[cs.label] = example_records(
            picks,
            features=row.features,
            cand_texts=cs.sessions,
            ref_texts=reference.sessions,
            who=who,
        )
    return {
        "version": DETAILS_VERSION,
        "questionnaire": questionnaire_info(q),
        "answers": answers,
        "examples": examples,
        "example_limits": {
            "max_turn_chars": MAX_TURN_CHARS,
            "max_turns": MAX_TURNS,
            "head_turns": HEAD_TURNS,
            "tail_turns": TAIL_TURNS,
        },
    }


def _mark_ties(rows: Sequence[Row], comparisons: Sequence[Comparison]) -> None:
    """Give each row the simulators it is not distinguishable from (both directions)."""
    by_label = {r.label: r for r in rows}
    for c in comparisons:
        if c.distinguishable is not False:
            continue
        for me, other, sign in ((c.a, c.b, 1.0), (c.b, c.a, -1.0)):
            row = by_label.get(me)
            if row is not None:
                row.not_distinguishable.append(
                    {
                        "label": other,
                        "diff": None if c.diff is None else sign * c.diff,
                        "p_value": c.p_value,
                        "noise_floor": c.noise_floor,
                    }
                )


def _spread(nf: NoiseFloor | None, q: str) -> float | None:
    return None if nf is None else nf.spread.get(q)


def _empty_row(cs: ScoredSet, excluded: dict[str, int], why: str) -> Row:
    none = Estimate(value=None, std=None, ci_low=None, ci_high=None)
    return Row(
        label=cs.label,
        kind="candidate",
        spec=cs.spec,
        user_ids=cs.user_ids,
        n_sessions=0,
        n_tasks=0,
        estimates=dict.fromkeys(QUANTITIES, none),
        excluded=excluded,
        features={f: {"candidate": None, "reference": None, "dice": None} for f in FEATURE_NAMES},
        gaps=[],
        notes=[why],
        synthetic=cs.synthetic,
        categories=dict(cs.reduction.categories),
    )
