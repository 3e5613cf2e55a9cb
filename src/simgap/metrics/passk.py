"""pass^k: τ-bench's reliability metric, per simulator and for the reference.

τ-bench (Yao et al. 2024, "τ-bench", §4; the same estimator in τ²-bench) asks how likely the
agent is to succeed on a task in *all* of k independent tries. With n tries of a task of which
c succeeded, the unbiased estimate of that chance is C(c, k) / C(n, k) (drawing k of the n
tries without replacement); pass^k is its mean over tasks:

    pass^k = mean over tasks of  C(c_t, k) / C(n_t, k)

pass^1 is the mean per-task success rate (the success rate when every task has the same
number of tries); pass^k never rises with k. A simulator's tries are its trials
(`Session.trial`: `simgap run --trials K`); the reference's tries on a task are all its
sessions there (every person, every batch: the same agent, tried by n people). A task with
fewer than k tries has no pass^k and is left out (counted).

Inflation (project): pass^k with the simulator minus pass^k with the reference, on the tasks
both tried at least k times — how much more reliable the agent looks when a simulator plays
the customer. Intervals are task-clustered: tasks are resampled with replacement (each with
all its tries; for the inflation, both sides together) and the 2.5th–97.5th percentiles of
the recomputed means are reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from math import comb
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simgap.metrics.estimate import Estimate, percentile_interval
from simgap.metrics.table import ScoredSession

Counts = dict[str, tuple[int, int]]  # task -> (successes, tries)


def task_pass_k(c: int, n: int, k: int) -> float:
    """C(c, k) / C(n, k): the chance k tries drawn from the n all succeeded (needs n ≥ k)."""
    if not 0 <= c <= n or k < 1 or n < k:
        raise ValueError(f"pass^k needs 0 ≤ c ≤ n and 1 ≤ k ≤ n, got c={c} n={n} k={k}")
    return comb(c, k) / comb(n, k)


def pass_hat_k(counts: Iterable[tuple[int, int]], k: int) -> float | None:
    """pass^k over the tasks with at least k tries; None when there is none."""
    vals = [task_pass_k(c, n, k) for c, n in counts if n >= k]
    return sum(vals) / len(vals) if vals else None


def tries(sessions: Iterable[ScoredSession], tasks: Iterable[str] | None = None) -> Counts:
    """task -> (successes, tries) over sessions with an outcome (on `tasks` if given)."""
    keep = None if tasks is None else set(tasks)
    out: dict[str, list[int]] = {}
    for s in sessions:
        if s.success is None or s.eval_only or (keep is not None and s.task not in keep):
            continue
        c = out.setdefault(s.task, [0, 0])
        c[0] += int(s.success >= 1.0)
        c[1] += 1
    return {t: (c, n) for t, (c, n) in out.items()}


@dataclass(frozen=True)
class PassK:
    """pass^k of one row for one k."""

    k: int
    sim: Estimate  # on the tasks the simulator tried ≥ k times
    n_tasks: int
    reference: Estimate | None = None  # on the tasks both tried ≥ k times
    inflation: Estimate | None = None  # sim − reference on those tasks
    n_tasks_reference: int = 0
    sim_on_reference_tasks: float | None = None
    tasks_too_few_tries: int = 0  # tasks with fewer than k simulator tries (left out)

    def to_json(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "sim": self.sim.to_json(),
            "n_tasks": self.n_tasks,
            "reference": None if self.reference is None else self.reference.to_json(),
            "inflation": None if self.inflation is None else self.inflation.to_json(),
            "n_tasks_reference": self.n_tasks_reference,
            "sim_on_reference_tasks": self.sim_on_reference_tasks,
            "tasks_too_few_tries": self.tasks_too_few_tries,
        }


def _resample(n: int, n_boot: int, rng: np.random.Generator) -> NDArray[np.int64] | None:
    """(n_boot, n) task indices drawn with replacement; None without resamples."""
    if n_boot <= 0 or n == 0:
        return None
    return rng.integers(0, n, size=(n_boot, n))


def _estimate(values: NDArray[np.float64], idx: NDArray[np.int64] | None, level: float) -> Estimate:
    """The mean of per-task values with a percentile interval over resampled tasks (`idx`)."""
    value = float(values.mean())
    lo = hi = None
    n_ok = 0
    if idx is not None:
        iv = percentile_interval(values[idx].mean(axis=1), level)
        if iv is not None:
            lo, hi = min(iv[0], value), max(iv[1], value)
            n_ok = idx.shape[0]
    return Estimate(value=value, std=None, ci_low=lo, ci_high=hi, n_boot=n_ok)


def pass_k_rows(
    cand: Counts,
    ref: Counts | None,
    *,
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
    k_max: int | None = None,
) -> list[PassK]:
    """pass^1..pass^K of a simulator (K: its most tries on a task, or `k_max`), with the
    reference's and the inflation on the tasks both tried at least k times. One resample of
    the tasks serves the three when they share their tasks (the usual case)."""
    top = max((n for _, n in cand.values()), default=0)
    K = top if k_max is None else min(top, k_max)
    out: list[PassK] = []
    for k in range(1, K + 1):
        tasks = sorted(t for t, (_, n) in cand.items() if n >= k)
        sim_vals = np.array([task_pass_k(*cand[t], k) for t in tasks])
        idx = _resample(len(tasks), n_boot, rng)
        both = [t for t in tasks if ref is not None and t in ref and ref[t][1] >= k]
        if not both or ref is None:
            out.append(
                PassK(
                    k=k,
                    sim=_estimate(sim_vals, idx, level),
                    n_tasks=len(tasks),
                    tasks_too_few_tries=len(cand) - len(tasks),
                )
            )
            continue
        s = np.array([task_pass_k(*cand[t], k) for t in both])
        r = np.array([task_pass_k(*ref[t], k) for t in both])
        idx_both = idx if len(both) == len(tasks) else _resample(len(both), n_boot, rng)
        out.append(
            PassK(
                k=k,
                sim=_estimate(sim_vals, idx, level),
                n_tasks=len(tasks),
                tasks_too_few_tries=len(cand) - len(tasks),
                reference=_estimate(r, idx_both, level),
                inflation=_estimate(s - r, idx_both, level),
                n_tasks_reference=len(both),
                sim_on_reference_tasks=float(s.mean()),
            )
        )
    return out


def reference_pass_k(
    ref: Counts, *, n_boot: int, rng: np.random.Generator, level: float = 0.95
) -> list[PassK]:
    """The reference's own pass^k over all its tasks (k up to its most tries on a task)."""
    return pass_k_rows(ref, None, n_boot=n_boot, rng=rng, level=level)


def pass_k_block(
    cand_sessions: Sequence[ScoredSession],
    ref_sessions: Sequence[ScoredSession],
    universe: Iterable[str],
    *,
    n_boot: int,
    rng: np.random.Generator,
    level: float = 0.95,
) -> list[PassK]:
    """A leaderboard row's pass^k on the tasks it shares with the reference."""
    tasks = set(universe)
    return pass_k_rows(
        tries(cand_sessions, tasks), tries(ref_sessions, tasks), n_boot=n_boot, rng=rng, level=level
    )
