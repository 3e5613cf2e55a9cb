"""Noise floor: how much a metric moves between repeated runs of the same simulator (project).

Why: two runs of the same agent and simulator on the same tasks can differ by several points of
success from sampling noise alone; a difference between two simulators smaller than that says
nothing. A candidate's repeats are its trials (`Session.trial`: `simgap run --trials K`, or
several trials per task in an imported file). Each trial is scored on its own against the same
reference batches and with the same task-difficulty map as the leaderboard, exactly like a
candidate (per batch, then the mean over batches), giving one
value per trial and quantity. The noise floor of a quantity is the **range** of those values
(max − min: the largest run-to-run difference seen); its sample **std** is reported next to it.
A simulator with a single trial has no noise floor (n/a, never invented).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simgap.metrics.core import Array, Side, build_pairs, build_side, scores
from simgap.metrics.estimate import QUANTITIES, batch_mean, quantities
from simgap.metrics.scorer import SIMGAP, Scorer
from simgap.metrics.table import ScoredSession


@dataclass(frozen=True)
class NoiseFloor:
    """Run-to-run spread of every quantity over a candidate's repeats."""

    trials: list[int]  # the repeats used, in order
    values: dict[str, list[float | None]]  # quantity -> value per repeat
    spread: dict[str, float | None]  # quantity -> max − min over repeats (the noise floor)
    std: dict[str, float | None]  # quantity -> sample std (ddof 1) over repeats

    @property
    def n_repeats(self) -> int:
        return len(self.trials)

    def to_json(self) -> dict[str, Any]:
        return {
            "n_repeats": self.n_repeats,
            "trials": self.trials,
            "quantities": {
                q: {"values": self.values[q], "range": self.spread[q], "std": self.std[q]}
                for q in self.values
            },
        }


def _stats(vals: Sequence[float]) -> tuple[float | None, float | None]:
    ok = np.array([v for v in vals if np.isfinite(v)], dtype=np.float64)
    if ok.size < 2:
        return None, None
    return float(ok.max() - ok.min()), float(ok.std(ddof=1))


def noise_floor(
    sessions: Sequence[ScoredSession],
    refs: Mapping[str, Side],
    index: Mapping[str, int],
    *,
    bins: NDArray[np.int64],
    levels: Sequence[Array],
    repeats: int | None = None,
    scorer: Scorer = SIMGAP,
) -> NoiseFloor | None:
    """Score each of the first `repeats` trials (all when None) on its own; None with < 2.

    Under the paper's rules a lone trial keeps its position among the simulator's runs, so
    run k is still paired with batch k for Eval."""
    all_trials = sorted({s.trial for s in sessions})
    trials = all_trials if repeats is None else all_trials[:repeats]
    if len(trials) < 2 or not refs:
        return None
    T = len(index)
    ones = np.ones((1, T))
    per_trial: list[dict[str, float]] = []
    for k in trials:
        side = build_side(
            [s for s in sessions if s.trial == k],
            index,
            trials=None if scorer.is_default else all_trials,
        )
        pairs = build_pairs(side, list(refs.values()), bins=bins, levels=levels, scorer=scorer)
        per_batch = [
            quantities(scores(ones @ p.matrix, p.layout)) for p in pairs if p.included.any()
        ]
        if not per_batch:
            per_trial.append(dict.fromkeys(QUANTITIES, float("nan")))
            continue
        per_trial.append(
            {q: float(batch_mean(np.stack([pb[q] for pb in per_batch]))[0]) for q in QUANTITIES}
        )
    values = {q: [_fin(pt[q]) for pt in per_trial] for q in QUANTITIES}
    spread: dict[str, float | None] = {}
    std: dict[str, float | None] = {}
    for q in QUANTITIES:
        spread[q], std[q] = _stats([pt[q] for pt in per_trial])
    return NoiseFloor(trials=trials, values=values, spread=spread, std=std)


def _fin(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
