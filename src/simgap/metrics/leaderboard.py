"""Score candidate simulators against a human reference: the leaderboard and its JSON/CSV.

`score_sets` is the library entry point behind `simgap score` (and what the report stage
calls). The JSON it writes (`Leaderboard.to_json`, schema `simgap.score/1`) is documented in
docs/metrics.md and kept stable: fields are only ever added.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simgap import __version__
from simgap.annotate.features import FEATURE_NAMES, USI_FEATURES_VERSION
from simgap.metrics.calibration import PAPER_MIN_SAMPLES, bin_indices, pooled_difficulty
from simgap.metrics.ceiling import batch_pairs, split_pairs
from simgap.metrics.core import COMPONENTS, Array, Pair, Side, build_pair, build_side
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
from simgap.metrics.estimate import QUANTITIES, RESAMPLING, Estimate, evaluate_pairs
from simgap.metrics.evaluative import field_levels
from simgap.metrics.gaps import gap_lines
from simgap.metrics.inputs import LoadedSet
from simgap.metrics.noise import NoiseFloor, noise_floor
from simgap.metrics.permutation import Comparison, paired_permutation_test, with_noise_floor
from simgap.metrics.table import Reduction, ScoredSession, reduce_sessions
from simgap.models import FailureReason, Session, SessionStatus, Task, load_questionnaire

SCHEMA = "simgap.score/1"
CEILING_LABEL = "people vs people (ceiling)"
# A synthetic reference's self-agreement is no human figure and is never labelled as one.
SYNTHETIC_CEILING_LABEL = "reference vs reference (ceiling, SYNTHETIC)"
# A reference of LLM simulators (a τ² results file): its self-agreement is no human figure.
SIMULATOR_CEILING_LABEL = "reference vs reference (ceiling, simulator)"
RESAMPLING_DETAIL = (
    "tasks drawn with replacement, each with all its sessions on both sides and in every "
    "reference batch (sessions are nested in tasks)"
)
EVIDENCE_PER_REASON = 3  # failure labels with their evidence written per row and reason


@dataclass
class ScoreSettings:
    n_boot: int = 1000
    seed: int = 0
    ci_level: float = 0.95
    n_permutations: int = 1000
    ceiling_splits: int = 3
    min_difficulty_samples: int = 1
    difficulty: Mapping[str, float] | None = None  # frozen map (task -> success rate)
    difficulty_source: str = "data"
    # Example conversations per candidate written to the score file's `details` (0: none, so
    # no conversation text leaves the store).
    n_examples: int = 3
    # Repeats per simulator for the noise floor: its first `repeats` trials (None: all; 0: no
    # noise floor). Significance level of the "distinguishable" verdict.
    repeats: int | None = None
    alpha: float = 0.05

    def to_json(self) -> dict[str, Any]:
        return {
            "n_boot": self.n_boot,
            "seed": self.seed,
            "ci_level": self.ci_level,
            "n_permutations": self.n_permutations,
            "ceiling_splits": self.ceiling_splits,
            "min_difficulty_samples": self.min_difficulty_samples,
            "difficulty_source": self.difficulty_source,
            "paper_min_difficulty_samples": PAPER_MIN_SAMPLES,
            "n_examples": self.n_examples,
            "resampling": RESAMPLING,
            "resampling_detail": RESAMPLING_DETAIL,
            "repeats": self.repeats,
            "alpha": self.alpha,
        }


@dataclass
class Row:
    label: str
    kind: str  # "ceiling" | "candidate"
    spec: str
    user_ids: list[str]
    n_sessions: int
    n_tasks: int
    estimates: dict[str, Estimate]
    excluded: dict[str, int]
    features: dict[str, dict[str, float | None]]
    gaps: list[str]
    notes: list[str] = field(default_factory=list)
    synthetic: bool = False
    features_source: dict[str, int] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)  # the compared tasks (not serialised)
    failures: dict[str, Any] = field(default_factory=dict)  # counts and evidence (no estimates)
    noise_floor: NoiseFloor | None = None
    # Simulators this row cannot be told apart from (paired test + noise floor): label, ΔUSI
    # (this row minus the other), p-value, noise floor.
    not_distinguishable: list[dict[str, Any]] = field(default_factory=list)

    @property
    def usi(self) -> float | None:
        return self.estimates["USI"].value

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "spec": self.spec,
            "user_ids": self.user_ids,
            "synthetic": self.synthetic,
            "n_sessions": self.n_sessions,
            "n_tasks": self.n_tasks,
            "usi": self.estimates["USI"].to_json(),
            "components": {c: self.estimates[c].to_json() for c in COMPONENTS},
            "ece": self.estimates["ECE"].to_json(),
            "sr_sim": self.estimates["SR_sim"].to_json(),
            "sr_human": self.estimates["SR_ref"].to_json(),
            "sr_inflation": self.estimates["SR_inflation"].to_json(),
            "failures": {
                **self.failures,
                "user_caused_share": self.estimates["Fail_user_share"].to_json(),
                "environment_share": self.estimates["Fail_env_share"].to_json(),
                "agent_share": self.estimates["Fail_agent_share"].to_json(),
                "sr_excl_user_caused": self.estimates["SR_excl_user"].to_json(),
                "reference_user_caused_share": self.estimates["Fail_user_share_ref"].to_json(),
            },
            "noise_floor": None if self.noise_floor is None else self.noise_floor.to_json(),
            "not_distinguishable": self.not_distinguishable,
            "excluded": self.excluded,
            "features_source": self.features_source,
            "features": self.features,
            "gaps": self.gaps,
            "notes": self.notes,
        }


@dataclass
class Leaderboard:
    reference: dict[str, Any]
    settings: ScoreSettings
    ceiling: Row | None
    rows: list[Row]  # candidates, best USI first
    comparisons: list[Comparison]
    notes: list[str]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # What the report needs beyond the numbers (docs/metrics.md §9); None when the sets were
    # given already reduced to numbers (`score_scored` without sessions).
    details: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "simgap_version": __version__,
            "created_at": self.created_at.isoformat(),
            "usi_features_version": USI_FEATURES_VERSION,
            "reference": self.reference,
            "settings": self.settings.to_json(),
            "components": list(COMPONENTS),
            "ceiling": None if self.ceiling is None else self.ceiling.to_json(),
            "rows": [r.to_json() for r in self.rows],
            "comparisons": [c.to_json() for c in self.comparisons],
            "notes": self.notes,
            **({} if self.details is None else {"details": self.details}),
        }

    def to_csv(self) -> str:
        """One line per row (ceiling first): values, interval bounds and counts."""
        buf = io.StringIO()
        cols = ["rank", "label", "kind", "synthetic", "n_sessions", "n_tasks"]
        for q in QUANTITIES:
            cols += [q, f"{q}_std", f"{q}_ci_low", f"{q}_ci_high"]
        cols += ["n_failed", "n_repeats", "USI_noise_floor", "SR_sim_noise_floor"]
        cols += ["candidate_only_tasks", "reference_only_tasks", "notes"]
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        rows = ([self.ceiling] if self.ceiling else []) + self.rows
        for rank, r in enumerate(rows):
            line: dict[str, Any] = {
                "rank": "" if r.kind == "ceiling" else rank if self.ceiling else rank + 1,
                "label": r.label,
                "kind": r.kind,
                "synthetic": r.synthetic,
                "n_sessions": r.n_sessions,
                "n_tasks": r.n_tasks,
                "candidate_only_tasks": r.excluded.get("candidate_only_tasks", 0),
                "reference_only_tasks": r.excluded.get("reference_only_tasks", 0),
                "notes": " | ".join(r.notes),
                "n_failed": r.failures.get("n_failed", ""),
                "n_repeats": "" if r.noise_floor is None else r.noise_floor.n_repeats,
                "USI_noise_floor": _csv(
                    None if r.noise_floor is None else r.noise_floor.spread["USI"]
                ),
                "SR_sim_noise_floor": _csv(
                    None if r.noise_floor is None else r.noise_floor.spread["SR_sim"]
                ),
            }
            for q, e in r.estimates.items():
                line[q] = _csv(e.value)
                line[f"{q}_std"] = _csv(e.std)
                line[f"{q}_ci_low"] = _csv(e.ci_low)
                line[f"{q}_ci_high"] = _csv(e.ci_high)
            w.writerow(line)
        return buf.getvalue()


def _csv(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"


# -- building blocks -------------------------------------------------------------------------
def _reduce(ls: LoadedSet, q: Any, tasks: Mapping[str, Task] | None) -> Reduction:
    return reduce_sessions(
        ls.sessions,
        feedback=ls.feedback,
        questionnaire=q,
        annotations=ls.annotations,
        failure_labels=ls.failure_labels,
        tasks=tasks,
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
        n_sessions=sum(1 for s in sessions if s.task in universe),
        n_tasks=len(universe),
        estimates=res.estimates,
        excluded=excluded,
        features=features,
        gaps=_gap_lines(features, who),
        notes=notes,
        synthetic=synthetic,
        tasks=sorted(universe),
        failures={} if reduction is None else _failure_summary(reduction, universe),
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
    def from_loaded(cls, ls: LoadedSet, tasks: Mapping[str, Task] | None = None) -> ScoredSet:
        """`tasks` (by `<domain>/<task_id>`) give failure attribution the users' scenarios."""
        q = load_questionnaire("usi")
        return cls(
            label=ls.label,
            spec=ls.spec.text,
            user_ids=ls.user_ids,
            synthetic=ls.synthetic,
            reduction=_reduce(ls, q, tasks),
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
    return score_scored(
        ScoredSet.from_loaded(reference, tasks),
        [ScoredSet.from_loaded(c, tasks) for c in candidates],
        settings,
    )


def score_scored(
    reference: ScoredSet, candidates: Sequence[ScoredSet], settings: ScoreSettings | None = None
) -> Leaderboard:
    """`score_sets` on sets already reduced to `ScoredSession`s (benchmarks, other importers)."""
    settings = settings or ScoreSettings()
    rng = np.random.default_rng(settings.seed)
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

    # Task difficulty for calibration: frozen map, else pooled over the candidates' outcomes.
    if settings.difficulty is not None:
        difficulty = dict(settings.difficulty)
    else:
        pool = [r.sessions for r in cand_reds] or [ref_red.sessions]
        outcomes = [(s.task, s.success) for ss in pool for s in ss if s.success is not None]
        difficulty = pooled_difficulty(outcomes, min_samples=settings.min_difficulty_samples)
        src = "candidates' pooled success" if cand_reds else "reference's pooled success"
        notes.append(
            f"task difficulty from the data at hand ({src}, ≥{settings.min_difficulty_samples} "
            f"outcome(s) per task; the paper froze it over 31 simulators, ≥{PAPER_MIN_SAMPLES})"
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
        pairs, labels = batch_pairs(batches, index, bins=bins, levels=levels)
        ceil_note = f"ceiling from {len(pairs)} pair(s) of disjoint batches ({', '.join(labels)})"
    elif len(batches) == 1:
        only = next(iter(batches.values()))
        pairs, labels = split_pairs(
            only, index, bins=bins, levels=levels, n_splits=settings.ceiling_splits, rng=rng
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

    rows: list[Row] = []
    cand_sides: list[tuple[str, Side]] = []
    for cs, red in zip(candidates, cand_reds, strict=True):
        side = build_side(red.sessions, index)
        cand_sides.append((cs.label, side))
        cand_tasks = {s.task for s in red.sessions}
        excluded = {
            **_exclusions(red),
            "candidate_only_tasks": len(cand_tasks - ref_tasks),
            "reference_only_tasks": len(ref_tasks - cand_tasks),
        }
        if not ref_sides or not cand_tasks & ref_tasks:
            rows.append(_empty_row(cs, excluded, "no task in common with the reference"))
            continue
        pairs = [build_pair(side, r, bins=bins, levels=levels) for r in ref_sides.values()]
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
        if settings.repeats != 0:
            row.noise_floor = noise_floor(
                red.sessions, ref_sides, index, bins=bins, levels=levels, repeats=settings.repeats
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
        "features_source": _features_source(ref_red),
        "tasks_with_difficulty": int((bins >= 0).sum()),
        "synthetic_sessions": sum(1 for s in ref_red.sessions if s.synthetic),
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
    )
