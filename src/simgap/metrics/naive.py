"""A plain, loop-by-loop USI: the test oracle for the vectorised engine and the benchmark's
baseline.

It follows the paper's scorer step by step (pooled feature rows per set, Dice per feature,
per-trial binned ECE, per-task Eval, mean over reference batches) with Python lists and dicts,
one resample at a time. `task_counts` gives each task a multiplicity, which is what a bootstrap
resample is, so `naive_usi(..., task_counts=row)` must equal the vectorised result for the same
row of weights.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence

import numpy as np

from simgap.annotate.features import DIMENSIONS, FEATURE_NAMES
from simgap.metrics.calibration import bin_index
from simgap.metrics.core import Array
from simgap.metrics.dice import dice_scalar
from simgap.metrics.evaluative import task_agreement
from simgap.metrics.table import ScoredSession


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def naive_pair(
    cand: Sequence[ScoredSession],
    ref: Sequence[ScoredSession],
    *,
    difficulty: Mapping[str, float],
    levels: Sequence[Array],
    task_counts: Mapping[str, int] | None = None,
    single_trial: bool = False,
) -> dict[str, float | None]:
    """All quantities of one candidate against one reference batch."""
    c_tasks = {s.task for s in cand}
    r_tasks = {s.task for s in ref}
    overlap = c_tasks & r_tasks

    def count(task: str) -> int:
        return 1 if task_counts is None else int(task_counts.get(task, 0))

    tasks = [t for t in sorted(overlap) if count(t) > 0]
    by_task_c: dict[str, list[ScoredSession]] = defaultdict(list)
    by_task_r: dict[str, list[ScoredSession]] = defaultdict(list)
    for s in cand:
        by_task_c[s.task].append(s)
    for s in ref:
        by_task_r[s.task].append(s)

    # Feature rows: mean over sessions (each task's sessions repeated by its multiplicity).
    c_rows: list[Array] = []
    r_rows: list[Array] = []
    for t in tasks:
        for _ in range(count(t)):
            c_rows += [s.features for s in by_task_c[t] if s.features is not None]
            r_rows += [s.features for s in by_task_r[t] if s.features is not None]
    out: dict[str, float | None] = {}
    if c_rows and r_rows:
        c_mean = [sum(float(r[i]) for r in c_rows) / len(c_rows) for i in range(len(FEATURE_NAMES))]
        r_mean = [sum(float(r[i]) for r in r_rows) / len(r_rows) for i in range(len(FEATURE_NAMES))]
        for d, feats in DIMENSIONS.items():
            sims = [
                dice_scalar(r_mean[FEATURE_NAMES.index(f)], c_mean[FEATURE_NAMES.index(f)])
                for f in feats
            ]
            out[d] = 100.0 * sum(sims) / len(sims)
    else:
        out.update(dict.fromkeys(DIMENSIONS))

    # Calibration: per candidate trial, binned success rates against the batch's.
    human: dict[str, float] = {}
    for t in tasks:
        vals = [s.success for s in by_task_r[t] if s.success is not None]
        if vals:
            human[t] = sum(vals) / len(vals)
    trials = sorted({0 if single_trial else s.trial for s in cand})
    eces: list[float] = []
    for k in trials:
        sim: dict[str, float] = {}
        for t in tasks:
            vals = [
                s.success
                for s in by_task_c[t]
                if s.success is not None and (single_trial or s.trial == k)
            ]
            if vals:
                sim[t] = sum(vals) / len(vals)
        bins: dict[int, list[str]] = defaultdict(list)
        for t in tasks:
            if t in sim and t in human and t in difficulty:
                bins[bin_index(difficulty[t])].extend([t] * count(t))
        n = sum(len(v) for v in bins.values())
        if n == 0:
            continue
        e = 0.0
        for members in bins.values():
            s_rate = sum(sim[t] for t in members) / len(members)
            h_rate = sum(human[t] for t in members) / len(members)
            e += len(members) / n * abs(s_rate - h_rate)
        eces.append(e)
    ece = _mean(eces)
    out["ECE"] = ece
    out["Cal"] = None if ece is None else 100.0 * (1.0 - ece)

    evals: list[float] = []
    for t in tasks:
        sims_a = [s.answers for s in by_task_c[t] if s.answers is not None]
        hums_a = [s.answers for s in by_task_r[t] if s.answers is not None]
        if sims_a and hums_a:
            v = task_agreement(sims_a, hums_a, levels)
            if not np.isnan(v):
                evals += [v] * count(t)
    out["Eval"] = _mean(evals)

    c_out = [
        s.success
        for t in tasks
        for _ in range(count(t))
        for s in by_task_c[t]
        if s.success is not None
    ]
    r_out = [
        s.success
        for t in tasks
        for _ in range(count(t))
        for s in by_task_r[t]
        if s.success is not None
    ]
    out["SR_sim"] = _mean(c_out)
    out["SR_ref"] = _mean(r_out)

    core = [out["D1"], out["D2"], out["D3"], out["D4"], out["Cal"]]
    if any(x is None for x in core):
        out["USI"] = None
    else:
        parts = [float(x) for x in core if x is not None]
        if out["Eval"] is not None:
            parts.append(out["Eval"])
        out["USI"] = sum(parts) / len(parts)
    return out


def naive_usi(
    cand: Sequence[ScoredSession],
    batches: Mapping[str, Sequence[ScoredSession]],
    *,
    difficulty: Mapping[str, float],
    levels: Sequence[Array],
    task_counts: Mapping[str, int] | None = None,
) -> dict[str, float | None]:
    """Every quantity averaged over the reference batches (those where it is computable)."""
    per = [
        naive_pair(cand, ref, difficulty=difficulty, levels=levels, task_counts=task_counts)
        for ref in batches.values()
    ]
    keys = per[0].keys() if per else ()
    out: dict[str, float | None] = {}
    for k in keys:
        vals = [p[k] for p in per if p[k] is not None]
        out[k] = sum(v for v in vals if v is not None) / len(vals) if vals else None
    return out


def naive_bootstrap_usi(
    cand: Sequence[ScoredSession],
    batches: Mapping[str, Sequence[ScoredSession]],
    *,
    difficulty: Mapping[str, float],
    levels: Sequence[Array],
    n_boot: int,
    seed: int = 0,
) -> list[float | None]:
    """USI of `n_boot` task resamples, one Python-level recomputation per resample."""
    rng = np.random.default_rng(seed)
    ref_tasks = {s.task for ss in batches.values() for s in ss}
    universe = sorted({s.task for s in cand} & ref_tasks)
    out: list[float | None] = []
    for _ in range(n_boot):
        picks = rng.integers(0, len(universe), size=len(universe))
        counts: dict[str, int] = defaultdict(int)
        for i in picks:
            counts[universe[int(i)]] += 1
        out.append(
            naive_usi(cand, batches, difficulty=difficulty, levels=levels, task_counts=counts)[
                "USI"
            ]
        )
    return out
