"""Task-clustered vs session-level bootstrap of a success rate and a success-rate gap.

Why this exists next to the leaderboard's bootstrap (`estimate.evaluate_pairs`, which always
resamples tasks): sessions are nested in tasks. Sessions of one task share its difficulty, so
their outcomes are correlated; resampling sessions as if they were independent pretends there
is more information than there is and gives intervals that are too narrow (by about
√(1 + (m − 1)·ICC) for m sessions per task with intra-task correlation ICC). This module
computes both kinds on the same sessions so the difference can be shown and tested; simgap
reports only the task-clustered one.

* `unit="tasks"`: the tasks both sides played are drawn with replacement (multinomial counts);
  a drawn task brings all its sessions on both sides (one-stage cluster bootstrap).
* `unit="sessions"`: each side's sessions on those tasks are drawn with replacement,
  independently (the naive bootstrap).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from simgap.metrics.core import Array, bootstrap_weights
from simgap.metrics.estimate import percentile_interval
from simgap.metrics.table import ScoredSession

Unit = Literal["tasks", "sessions"]


@dataclass(frozen=True)
class Interval:
    value: float
    ci_low: float
    ci_high: float
    unit: Unit

    @property
    def width(self) -> float:
        return self.ci_high - self.ci_low


def _outcomes(sessions: Sequence[ScoredSession], tasks: Sequence[str]) -> tuple[Array, Array]:
    """Per task (in `tasks` order): successes and sessions with an outcome."""
    pos = {t: i for i, t in enumerate(tasks)}
    succ = np.zeros(len(tasks))
    n = np.zeros(len(tasks))
    for s in sessions:
        i = pos.get(s.task)
        if i is not None and s.success is not None:
            succ[i] += s.success
            n[i] += 1
    return succ, n


def _session_draws(succ: Array, n: Array, rng: np.random.Generator, n_boot: int) -> Array:
    """(n_boot,) success rates of session-level resamples of one side."""
    flat = np.concatenate(
        [np.r_[np.ones(int(k)), np.zeros(int(m - k))] for k, m in zip(succ, n, strict=True)]
    )
    idx = rng.integers(0, flat.size, size=(n_boot, flat.size))
    rates: Array = flat[idx].mean(axis=1)
    return rates


def success_interval(
    cand: Sequence[ScoredSession],
    ref: Sequence[ScoredSession] | None = None,
    *,
    unit: Unit = "tasks",
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> Interval:
    """SR(cand), or SR(cand) − SR(ref) when `ref` is given, on the tasks both have outcomes
    for, with a percentile interval from resampling `unit`."""
    tasks = sorted({s.task for s in cand if s.success is not None})
    if ref is not None:
        tasks = sorted(set(tasks) & {s.task for s in ref if s.success is not None})
    if not tasks:
        raise ValueError("no task with outcomes (on both sides)")
    rng = np.random.default_rng(seed)
    cs, cn = _outcomes(cand, tasks)
    rs, rn = _outcomes(ref, tasks) if ref is not None else (None, None)
    point = cs.sum() / cn.sum() - (0.0 if rs is None or rn is None else rs.sum() / rn.sum())
    if unit == "tasks":
        W = bootstrap_weights(rng, np.arange(len(tasks), dtype=np.int64), len(tasks), n_boot)
        with np.errstate(invalid="ignore", divide="ignore"):
            draws = (W @ cs) / (W @ cn)
            if rs is not None and rn is not None:
                draws = draws - (W @ rs) / (W @ rn)
    elif unit == "sessions":
        draws = _session_draws(cs, cn, rng, n_boot)
        if rs is not None and rn is not None:
            draws = draws - _session_draws(rs, rn, rng, n_boot)
    else:
        raise ValueError(f"unit must be 'tasks' or 'sessions', got {unit!r}")
    iv = percentile_interval(draws, level)
    assert iv is not None  # every draw has sessions, so every rate is finite
    return Interval(value=float(point), ci_low=iv[0], ci_high=iv[1], unit=unit)
