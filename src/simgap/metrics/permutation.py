"""Paired permutation test between two simulators scored against the same people (project).

H0: on each task the two simulators are exchangeable. The statistic is
USI(A) − USI(B) (each averaged over reference batches, as in the leaderboard) on the tasks both
simulators and the reference have. A permutation swaps A's and B's sessions on a random subset
of tasks (each task independently with probability 1/2, seeded); the two-sided p-value is
(1 + #{|d_perm| ≥ |d_obs|}) / (1 + #permutations). Swapping is linear in the per-task sums, so
all permutations are computed at once: A' = (1 − Z) @ M_A + Z @ M_B with Z the swap matrix.
The same permutations test the success-rate difference SR(A) − SR(B).

`with_noise_floor` then marks the pair "not distinguishable" unless the difference is both
significant (p < alpha) and larger than the run-to-run noise floor of the two simulators
(metrics.noise; the larger of their USI ranges) — project.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simgap.metrics.core import Array, Side, build_pairs, scores
from simgap.metrics.estimate import batch_mean
from simgap.metrics.scorer import SIMGAP, Scorer

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
    sr_a: float | None = None
    sr_b: float | None = None
    sr_diff: float | None = None
    sr_p_value: float | None = None
    # Filled by `with_noise_floor`: the larger USI / SR run-to-run range of the two simulators
    # (None: neither has repeats), the verdict and why.
    noise_floor: float | None = None
    sr_noise_floor: float | None = None
    alpha: float = 0.05
    distinguishable: bool | None = None
    verdict: str = ""

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _floor(a: float | None, b: float | None) -> float | None:
    vals = [x for x in (a, b) if x is not None]
    return max(vals) if vals else None


def with_noise_floor(
    cmp: Comparison,
    *,
    usi_floor: tuple[float | None, float | None],
    sr_floor: tuple[float | None, float | None],
    alpha: float,
) -> Comparison:
    """The comparison with its noise floor and verdict: distinguishable only when p < alpha and
    |ΔUSI| exceeds the larger run-to-run USI range of the two simulators."""
    floor = _floor(*usi_floor)
    sr_fl = _floor(*sr_floor)
    if cmp.diff is None or cmp.p_value is None:
        ok: bool | None = None
        verdict = "n/a (no common tasks or USI not computable)"
    elif cmp.p_value >= alpha:
        ok = False
        verdict = f"not distinguishable: p = {cmp.p_value:.3f} ≥ {alpha:g}"
    elif floor is not None and abs(cmp.diff) <= floor:
        ok = False
        verdict = (
            f"not distinguishable: |ΔUSI| {abs(cmp.diff):.1f} is within the run-to-run noise "
            f"floor {floor:.1f}"
        )
    else:
        ok = True
        verdict = f"distinguishable: p = {cmp.p_value:.3f} < {alpha:g}" + (
            f", |ΔUSI| {abs(cmp.diff):.1f} > noise floor {floor:.1f}"
            if floor is not None
            else " (noise floor n/a: no repeated runs)"
        )
    return replace(
        cmp,
        noise_floor=floor,
        sr_noise_floor=sr_fl,
        alpha=alpha,
        distinguishable=ok,
        verdict=verdict,
    )


def paired_permutation_test(
    a: tuple[str, Side],
    b: tuple[str, Side],
    refs: Mapping[str, Side],
    *,
    bins: NDArray[np.int64],
    levels: Sequence[Array],
    n_permutations: int,
    rng: np.random.Generator,
    scorer: Scorer = SIMGAP,
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
    kw: dict[str, Any] = {"bins": bins, "levels": levels, "mask": common, "n_trials": K}
    ref_list = list(refs.values())
    pas = build_pairs(side_a, ref_list, scorer=scorer, **kw)
    pbs = build_pairs(side_b, ref_list, scorer=scorer, **kw)
    for pa, pb in zip(pas, pbs, strict=True):
        if not pa.included.any():
            continue
        mats.append((pa.matrix, pb.matrix))
        layout = pa.layout
    if layout is None or n_common == 0:
        return Comparison(name_a, name_b, None, None, None, None, n_common, 0)

    T = side_a.n_sessions.shape[0]
    ones = np.ones((1, T))
    pa_s = [scores(ones @ ma, layout) for ma, _ in mats]
    pb_s = [scores(ones @ mb, layout) for _, mb in mats]
    usi_a = batch_mean(np.stack([x.usi for x in pa_s]))[0]
    usi_b = batch_mean(np.stack([x.usi for x in pb_s]))[0]
    sr_a = batch_mean(np.stack([x.sr_cand for x in pa_s]))[0]
    sr_b = batch_mean(np.stack([x.sr_cand for x in pb_s]))[0]
    d_obs = float(usi_a - usi_b)
    d_sr = float(sr_a - sr_b)
    p: float | None = None
    p_sr: float | None = None
    n_ok = 0
    if n_permutations > 0 and (np.isfinite(d_obs) or np.isfinite(d_sr)):
        Z = (rng.random((n_permutations, T)) < 0.5).astype(np.float64) * common
        ua, ub, sa, sb = [], [], [], []
        for ma, mb in mats:
            base_a, base_b = ones @ ma, ones @ mb
            delta = Z @ (mb - ma)
            perm_a, perm_b = scores(base_a + delta, layout), scores(base_b - delta, layout)
            ua.append(perm_a.usi)
            ub.append(perm_b.usi)
            sa.append(perm_a.sr_cand)
            sb.append(perm_b.sr_cand)
        p, n_ok = _p_value(batch_mean(np.stack(ua)) - batch_mean(np.stack(ub)), d_obs)
        p_sr, _ = _p_value(batch_mean(np.stack(sa)) - batch_mean(np.stack(sb)), d_sr)
    return Comparison(
        name_a,
        name_b,
        _fin(usi_a),
        _fin(usi_b),
        _fin(d_obs),
        p,
        n_common,
        n_ok,
        sr_a=_fin(sr_a),
        sr_b=_fin(sr_b),
        sr_diff=_fin(d_sr),
        sr_p_value=p_sr,
    )


def _p_value(d: Array, d_obs: float) -> tuple[float | None, int]:
    """Two-sided permutation p-value over the computable permutations (None: not testable)."""
    if not np.isfinite(d_obs):
        return None, 0
    ok = np.isfinite(d)
    n = int(ok.sum())
    if n == 0:
        return None, 0
    extreme = int((np.abs(d[ok]) >= abs(d_obs) - _TOL).sum())
    return (1 + extreme) / (1 + n), n


def _fin(x: float) -> float | None:
    return float(x) if np.isfinite(x) else None
