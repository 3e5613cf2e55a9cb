"""Paired permutation test between two simulators scored against the same people (project).

H0: on each task the two simulators are exchangeable. The statistic is
USI(A) − USI(B) (each averaged over reference batches, as in the leaderboard) on the tasks both
simulators and the reference have. A permutation swaps A's and B's sessions on a random subset
of tasks (each task independently with probability 1/2, seeded); the two-sided p-value is
(1 + #{|d_perm| ≥ |d_obs|}) / (1 + #permutations). Swapping is linear in the per-task sums, so
all permutations are computed at once: A' = (1 − Z) @ M_A + Z @ M_B with Z the swap matrix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simgap.metrics.core import Array, Side, build_pair, scores
from simgap.metrics.estimate import batch_mean

_TOL = 1e-9


@dataclass(frozen=True)
class Comparison:
    a: str
    b: str
    usi_a: float | None  # on the common tasks
    usi_b: float | None
    diff: float | None
    p_value: float | None
    n_tasks: int
    n_permutations: int

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def paired_permutation_test(
    a: tuple[str, Side],
    b: tuple[str, Side],
    refs: Mapping[str, Side],
    *,
    bins: NDArray[np.int64],
    levels: Sequence[Array],
    n_permutations: int,
    rng: np.random.Generator,
) -> Comparison:
    (name_a, side_a), (name_b, side_b) = a, b
    ref_any = np.zeros_like(side_a.n_sessions, dtype=bool)
    for r in refs.values():
        ref_any |= r.n_sessions > 0
    common = (side_a.n_sessions > 0) & (side_b.n_sessions > 0) & ref_any
    n_common = int(common.sum())
    K = max(side_a.n_trials, side_b.n_trials)
    mats: list[tuple[Array, Array]] = []
    layout = None
    for ref in refs.values():
        pa = build_pair(side_a, ref, bins=bins, levels=levels, mask=common, n_trials=K)
        pb = build_pair(side_b, ref, bins=bins, levels=levels, mask=common, n_trials=K)
        if not pa.included.any():
            continue
        mats.append((pa.matrix, pb.matrix))
        layout = pa.layout
    if layout is None or n_common == 0:
        return Comparison(name_a, name_b, None, None, None, None, n_common, 0)

    T = side_a.n_sessions.shape[0]
    ones = np.ones((1, T))
    usi_a = batch_mean(np.stack([scores(ones @ ma, layout).usi for ma, _ in mats]))[0]
    usi_b = batch_mean(np.stack([scores(ones @ mb, layout).usi for _, mb in mats]))[0]
    d_obs = float(usi_a - usi_b)
    if not np.isfinite(d_obs) or n_permutations <= 0:
        return Comparison(name_a, name_b, _fin(usi_a), _fin(usi_b), _fin(d_obs), None, n_common, 0)
    Z = (rng.random((n_permutations, T)) < 0.5).astype(np.float64) * common
    ua, ub = [], []
    for ma, mb in mats:
        base_a, base_b = ones @ ma, ones @ mb
        delta = Z @ (mb - ma)
        ua.append(scores(base_a + delta, layout).usi)
        ub.append(scores(base_b - delta, layout).usi)
    d = batch_mean(np.stack(ua)) - batch_mean(np.stack(ub))
    ok = np.isfinite(d)
    extreme = int((np.abs(d[ok]) >= abs(d_obs) - _TOL).sum())
    p = (1 + extreme) / (1 + int(ok.sum()))
    return Comparison(name_a, name_b, float(usi_a), float(usi_b), d_obs, p, n_common, int(ok.sum()))


def _fin(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
