"""Point estimates over reference batches and bootstrap intervals over tasks.

The paper reports each number as mean ± std over the three human batches (a candidate is
scored against each batch separately). simgap adds a 95% bootstrap interval: the tasks are
resampled with replacement (the same resample for every batch, so a task's sessions move
together), every quantity is recomputed per resample and averaged over batches like the point
estimate, and the interval is the 2.5th–97.5th percentile of those values.

Dice is concave, so resampling biases it downwards; when the two sets are nearly identical the
point estimate can sit above the upper percentile. The reported interval is then widened to
include it and `ci_extended` says so (never silently).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simgap.metrics.core import COMPONENTS, Pair, Scores, bootstrap_weights, scores

Array = NDArray[np.float64]
QUANTITIES = (
    "USI",
    *COMPONENTS,
    "ECE",
    "SR_sim",
    "SR_ref",
    "SR_inflation",
    "Fail_user_share",
    "Fail_env_share",
    "Fail_agent_share",
    "SR_excl_user",
    "Fail_user_share_ref",
)
# How the intervals resample (docs/metrics.md §7): whole tasks, each with all its sessions
# (sessions are nested in tasks, so they are not independent draws).
RESAMPLING = "tasks"


def _f(x: float) -> float | None:
    return None if x is None or not np.isfinite(x) else float(x)


@dataclass(frozen=True)
class Estimate:
    """One number of a leaderboard row with its uncertainty."""

    value: float | None  # mean over reference batches (None: not computable)
    std: float | None  # std over batches (population, as the paper); None with <2 batches
    ci_low: float | None
    ci_high: float | None
    per_batch: dict[str, float | None] = field(default_factory=dict)
    ci_extended: bool = False  # the percentile interval was widened to contain `value`
    n_boot: int = 0  # resamples where the quantity was computable

    def to_json(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "std": self.std,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "ci_extended": self.ci_extended,
            "n_boot": self.n_boot,
            "per_batch": self.per_batch,
        }


def percentile_interval(samples: Array, level: float) -> tuple[float, float] | None:
    ok = samples[np.isfinite(samples)]
    if ok.size == 0:
        return None
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(ok, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def make_estimate(
    per_batch: Sequence[float], labels: Sequence[str], boot: Array | None, level: float
) -> Estimate:
    vals = np.asarray(per_batch, dtype=np.float64)
    ok = vals[np.isfinite(vals)]
    value = float(ok.mean()) if ok.size else None
    std = float(ok.std()) if ok.size >= 2 else None
    lo = hi = None
    extended = False
    n_boot = 0
    if boot is not None and value is not None:
        n_boot = int(np.isfinite(boot).sum())
        iv = percentile_interval(boot, level)
        if iv is not None:
            lo, hi = iv
            if value < lo or value > hi:
                extended = True
                lo, hi = min(lo, value), max(hi, value)
    return Estimate(
        value=value,
        std=std,
        ci_low=lo,
        ci_high=hi,
        per_batch={lab: _f(v) for lab, v in zip(labels, per_batch, strict=True)},
        ci_extended=extended,
        n_boot=n_boot,
    )


def quantities(s: Scores) -> dict[str, Array]:
    out = {"USI": s.usi, **s.components, "ECE": s.ece}
    out["SR_sim"] = s.sr_cand
    out["SR_ref"] = s.sr_ref
    out["SR_inflation"] = s.sr_cand - s.sr_ref
    out["Fail_user_share"] = s.fail_user_share
    out["Fail_env_share"] = s.fail_env_share
    out["Fail_agent_share"] = s.fail_agent_share
    out["SR_excl_user"] = s.sr_excl_user
    out["Fail_user_share_ref"] = s.ref_fail_user_share
    return out


def batch_mean(stack: Array) -> Array:
    """Mean over the batch axis (0) ignoring batches where a value is not computable."""
    ok = np.isfinite(stack)
    n = ok.sum(axis=0)
    total = np.where(ok, stack, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, total / np.maximum(n, 1), np.nan)


@dataclass(frozen=True)
class PairResults:
    """Everything a row needs from its (candidate, batch) pairs."""

    estimates: dict[str, Estimate]
    point: list[Scores]  # one per pair, W = 1
    universe: NDArray[np.int64]  # tasks scored in at least one pair


def evaluate_pairs(
    pairs: Sequence[Pair],
    labels: Sequence[str],
    *,
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> PairResults:
    """Point estimates (per pair, then mean ± std over pairs) and bootstrap intervals."""
    if not pairs:
        raise ValueError("no reference batch to compare with")
    T = pairs[0].matrix.shape[0]
    included = np.zeros(T, dtype=bool)
    for p in pairs:
        included |= p.included
    universe = np.flatnonzero(included).astype(np.int64)
    ones = np.ones((1, T))
    point = [scores(ones @ p.matrix, p.layout) for p in pairs]
    point_q = [quantities(s) for s in point]

    boot_q: dict[str, Array] | None = None
    if n_boot > 0 and universe.size:
        W = bootstrap_weights(rng, universe, T, n_boot)
        per_pair = [quantities(scores(W @ p.matrix, p.layout)) for p in pairs]
        boot_q = {q: batch_mean(np.stack([pp[q] for pp in per_pair])) for q in QUANTITIES}

    estimates = {
        q: make_estimate(
            [float(pq[q][0]) for pq in point_q],
            labels,
            None if boot_q is None else boot_q[q],
            level,
        )
        for q in QUANTITIES
    }
    return PairResults(estimates=estimates, point=point, universe=universe)
