"""The rule-by-rule USI engine: any mix of simgap's rules and the reference scorer's.

`metrics.core` computes simgap's default rules fast. This engine computes the same quantities
under any `Scorer` (metrics.scorer): all of the paper's rules (`simgap score --paper`, the
authors' reference scorer, checked against its outputs by tests/metrics/test_paper_golden.py),
or simgap's rules with one of the paper's switched on (to measure each departure alone). With
every rule simgap's it gives the default engine's numbers (a test checks it).

It keeps the default engine's idea: a (candidate, batch) pair is a tasks × columns matrix of
per-task sums, so bootstrap resamples and permutations are matrix products. What the paper's
rules need on top:

* per-run feature sums and the run's presence on each task (the paper averages each run's mean
  feature row, over the runs that share a task with the batch);
* Eval of run k against batch k only, with the seeded random answers for a simulator's blank
  fields drawn in the reference scorer's order (batches in order, tasks in sorted order,
  fields in questionnaire order; numpy `default_rng(42)` per candidate);
* the Eval of every batch in every pair's matrix, because the paper puts the mean Eval over
  batches into each batch's USI;
* for the human ceiling, Eval of a second person rating the same batch-1 conversation (drawn
  in the order of their file), the same in every pair of batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from simgap.metrics.calibration import N_BINS
from simgap.metrics.core import (
    N_FEATURES,
    Array,
    Pair,
    Scores,
    Side,
    _nanmean,
    _ratio,
    assemble,
    calibration_block,
)
from simgap.metrics.scorer import DRAW_SEED, Scorer

F = N_FEATURES


@dataclass(frozen=True)
class RuleLayout:
    """Columns of a pair matrix under a rule set: per run [features, count, present], pooled
    candidate features and count, reference features and count, calibration (per run × bin:
    tasks, candidate rate, reference rate), this pair's Eval (sum, tasks), every pair's Eval
    (sum, tasks), candidate and reference successes, failure attribution."""

    n_trials: int
    n_eval: int
    scorer: Scorer

    def run(self, k: int) -> int:
        return k * (F + 2)

    @property
    def c_feat(self) -> int:
        return self.n_trials * (F + 2)

    @property
    def r_feat(self) -> int:
        return self.c_feat + F + 1

    @property
    def ece(self) -> slice:
        start = self.r_feat + F + 1
        return slice(start, start + self.n_trials * N_BINS * 3)

    @property
    def ev(self) -> int:
        return int(self.ece.stop)

    @property
    def ev_all(self) -> int:
        return self.ev + 2

    @property
    def sr(self) -> int:
        return self.ev_all + 2 * self.n_eval

    @property
    def fail(self) -> int:
        return self.sr + 4

    @property
    def width(self) -> int:
        return self.fail + 4

    def scores(self, A: Array) -> Scores:
        """Every quantity from aggregated sums `A = W @ M` under this layout's rules."""
        if self.scorer.feature_pooling == "run_means":
            per_run = []
            for k in range(self.n_trials):
                o = self.run(k)
                mean = _ratio(A[:, o : o + F], A[:, [o + F]])
                present = A[:, [o + F + 1]] > 0
                per_run.append(np.where(present, mean, np.nan))
            cf = _nanmean(np.stack(per_run, axis=1), axis=1)
        else:
            cf = _ratio(A[:, self.c_feat : self.c_feat + F], A[:, [self.c_feat + F]])
        rf = _ratio(A[:, self.r_feat : self.r_feat + F], A[:, [self.r_feat + F]])
        ev = _ratio(A[:, self.ev], A[:, self.ev + 1])
        if self.scorer.eval_in_usi == "batch_mean":
            blocks = [
                _ratio(A[:, self.ev_all + 2 * e], A[:, self.ev_all + 2 * e + 1])
                for e in range(self.n_eval)
            ]
            ev_usi = _nanmean(np.stack(blocks, axis=1), axis=1)
        else:
            ev_usi = ev
        return assemble(
            A,
            cf,
            rf,
            A[:, self.ece],
            ev,
            ev_usi,
            n_trials=self.n_trials,
            sr=self.sr,
            fail=self.fail,
        )


def pair_score(
    human: Array, sim: Array, levels: Sequence[Array], rng: np.random.Generator | None
) -> float | None:
    """100 · (1 − mean |sim − human|) over the fields the human answered. A field the
    simulator left blank costs the expected |level − human| (rng None) or |draw − human| for
    a level drawn uniformly (the reference scorer's `rng.choice`); None if the human answered
    nothing (and then nothing is drawn)."""
    diffs: list[float] = []
    for f, h in enumerate(human):
        if np.isnan(h):
            continue
        s = sim[f]
        if not np.isnan(s):
            diffs.append(abs(float(s) - float(h)))
        elif rng is None:
            diffs.append(float(np.mean(np.abs(levels[f] - h))))
        else:
            diffs.append(abs(float(rng.choice(levels[f])) - float(h)))
    if not diffs:
        return None
    return 100.0 * (1.0 - float(np.mean(diffs)))


def _task_eval(
    sims: Sequence[Array],
    humans: Sequence[Array],
    levels: Sequence[Array],
    rng: np.random.Generator | None,
) -> float:
    vals = [pair_score(h, s, levels, rng) for s in sims for h in humans]
    ok = [v for v in vals if v is not None]
    return float(np.mean(ok)) if ok else float("nan")


def _rng(scorer: Scorer) -> np.random.Generator | None:
    return np.random.default_rng(DRAW_SEED) if scorer.blank_answers == "draw" else None


def _matrix(
    cand: Side,
    ref: Side,
    inc: NDArray[np.bool_],
    eval_own: Array,
    eval_all: Sequence[Array],
    *,
    bins: NDArray[np.int64],
    lay: RuleLayout,
) -> Array:
    T = inc.shape[0]
    M = np.zeros((T, lay.width))
    w = inc.astype(np.float64)
    for k in range(cand.n_trials):
        o = lay.run(k)
        M[:, o : o + F] = cand.trial_feat_sum[k] * w[:, None]
        M[:, o + F] = cand.trial_feat_n[k] * w
        M[:, o + F + 1] = cand.trial_present[k] * w
    M[:, lay.c_feat : lay.c_feat + F] = cand.feat_sum * w[:, None]
    M[:, lay.c_feat + F] = cand.feat_n * w
    M[:, lay.r_feat : lay.r_feat + F] = ref.feat_sum * w[:, None]
    M[:, lay.r_feat + F] = ref.feat_n * w

    # Calibration, as in the default engine.
    M[:, lay.ece] = calibration_block(cand, ref, inc=inc, bins=bins, n_trials=lay.n_trials)

    for col, ev in [(lay.ev, eval_own), *((lay.ev_all + 2 * e, x) for e, x in enumerate(eval_all))]:
        has = ~np.isnan(ev)
        M[:, col] = np.where(has, ev, 0.0)
        M[:, col + 1] = has.astype(np.float64)

    M[:, lay.sr] = cand.out_sum * w
    M[:, lay.sr + 1] = cand.out_n * w
    M[:, lay.sr + 2] = ref.out_sum * w
    M[:, lay.sr + 3] = ref.out_n * w
    M[:, lay.fail] = cand.fail_user * w
    M[:, lay.fail + 1] = cand.fail_env * w
    M[:, lay.fail + 2] = ref.fail_user * w
    M[:, lay.fail + 3] = ref.fail_env * w
    return M


def build_rule_pairs(
    cand: Side,
    refs: Sequence[Side],
    *,
    bins: NDArray[np.int64],
    levels: Sequence[Array],
    mask: NDArray[np.bool_] | None = None,
    n_trials: int | None = None,
    scorer: Scorer,
) -> list[Pair]:
    """A candidate against each reference batch (in order) under `scorer`'s rules."""
    T = cand.n_sessions.shape[0]
    allowed = np.ones(T, dtype=bool) if mask is None else mask
    incs = [(cand.n_sessions > 0) & (r.n_sessions > 0) & allowed for r in refs]
    rng = _rng(scorer)
    evals: list[Array] = []
    for j, (ref, inc) in enumerate(zip(refs, incs, strict=True)):
        ev = np.full(T, np.nan)
        for t in range(T):
            if scorer.eval_pairing == "kth_run":
                # The reference scorer pairs the simulator's j-th survey set with batch j,
                # on every task both answered (conversations or not).
                if not allowed[t] or j >= cand.n_trials:
                    continue
                sims = cand.trial_answers[j][t]
            else:
                if not inc[t]:
                    continue
                sims = cand.answers[t]
            if sims and ref.answers[t]:
                ev[t] = _task_eval(sims, ref.answers[t], levels, rng)
        evals.append(ev)
    lay = RuleLayout(n_trials=max(cand.n_trials, n_trials or 0), n_eval=len(refs), scorer=scorer)
    return [
        Pair(
            matrix=_matrix(cand, ref, inc, ev, evals, bins=bins, lay=lay),
            layout=lay,
            included=inc | ~np.isnan(ev),
            eval_task=ev,
        )
        for ref, inc, ev in zip(refs, incs, evals, strict=True)
    ]


def second_rater_eval(first: Side, levels: Sequence[Array], scorer: Scorer) -> Array:
    """Per task of the first batch: a second person's answers on the same conversation vs the
    first person's, in the order of the second rater's file (the paper's ceiling Eval)."""
    T = first.n_sessions.shape[0]
    entries = sorted(
        ((order, t, h, r2) for t in range(T) for order, h, r2 in first.rater2[t]),
        key=lambda e: e[0],
    )
    rng = _rng(scorer)
    per_task: dict[int, list[float]] = {}
    for _, t, h, r2 in entries:
        v = pair_score(h, r2, levels, rng)
        if v is not None:
            per_task.setdefault(t, []).append(v)
    ev = np.full(T, np.nan)
    for t, vals in per_task.items():
        ev[t] = float(np.mean(vals))
    return ev


def build_rule_ceiling_pairs(
    sides: Sequence[Side],
    *,
    bins: NDArray[np.int64],
    levels: Sequence[Array],
    scorer: Scorer,
) -> list[Pair]:
    """Every pair of batches (in `combinations` order) under `scorer`'s rules."""
    if not sides:
        return []
    T = sides[0].n_sessions.shape[0]
    combos = list(combinations(range(len(sides)), 2))
    incs = [(sides[a].n_sessions > 0) & (sides[b].n_sessions > 0) for a, b in combos]
    if scorer.ceiling_eval == "second_rater":
        shared = second_rater_eval(sides[0], levels, scorer)
        evals = [shared for _ in combos]
        all_evals: list[Array] = [shared]
    else:
        rng = _rng(scorer)
        evals = []
        for (a, b), inc in zip(combos, incs, strict=True):
            ev = np.full(T, np.nan)
            for t in np.flatnonzero(inc):
                if sides[a].answers[t] and sides[b].answers[t]:
                    ev[t] = _task_eval(sides[a].answers[t], sides[b].answers[t], levels, rng)
            evals.append(ev)
        all_evals = evals
    lay = RuleLayout(n_trials=1, n_eval=len(all_evals), scorer=scorer)
    return [
        Pair(
            matrix=_matrix(sides[a], sides[b], inc, ev, all_evals, bins=bins, lay=lay),
            layout=lay,
            included=inc | ~np.isnan(ev),
            eval_task=ev,
        )
        for (a, b), inc, ev in zip(combos, incs, evals, strict=True)
    ]
