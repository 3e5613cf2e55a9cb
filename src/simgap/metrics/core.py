"""The vectorised USI engine: per-task sums in one matrix, any task weighting by one product.

Every USI component is a ratio of sums over tasks (pooled feature means, per-bin success
rates, mean per-task Eval, success rates). So a pair (candidate set, one reference batch) is
reduced once to a matrix `M` (tasks × columns) of per-task sums, and a weighting of the tasks
`W` (rows = resamples or permutations, columns = tasks) gives all the sums at once:
`A = W @ M`. The point estimate is `W = 1`; a bootstrap resample is a row of multinomial task
counts; a permutation swaps the candidate columns of two simulators per task. The scores are
then element-wise arithmetic on `A` (`scores`).

Columns of `M` (see `Layout`): candidate feature sums and session count, reference feature sums
and count, per trial × difficulty bin the triple (tasks, candidate successes, reference success
rate sum), Eval (sum of per-task agreement, tasks with agreement), and success counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from simgap.annotate.features import DIMENSIONS, FEATURE_NAMES
from simgap.metrics.calibration import N_BINS
from simgap.metrics.dice import dice
from simgap.metrics.evaluative import task_agreement
from simgap.metrics.scorer import SIMGAP, Scorer
from simgap.metrics.table import ScoredSession

Array = NDArray[np.float64]
N_FEATURES = len(FEATURE_NAMES)
DIMENSION_INDEX: dict[str, NDArray[np.int64]] = {
    d: np.array([FEATURE_NAMES.index(f) for f in fs], dtype=np.int64)
    for d, fs in DIMENSIONS.items()
}
COMPONENTS = ("D1", "D2", "D3", "D4", "Eval", "Cal")  # the six USI scores, 0–100


@dataclass(frozen=True)
class Side:
    """Per-task sums of one set of sessions over a shared task index (T tasks, K trials)."""

    feat_sum: Array  # (T, F) sum of session features
    feat_n: Array  # (T,) sessions with features
    out_sum: Array  # (T,) successes
    out_n: Array  # (T,) sessions with an outcome
    trial_sum: Array  # (K, T) successes per trial
    trial_n: Array  # (K, T) sessions with an outcome per trial
    n_sessions: Array  # (T,) all scored sessions
    answers: tuple[tuple[Array, ...], ...]  # per task: answer vectors of sessions with feedback
    fail_user: Array  # (T,) failed sessions the user (simulator / person) caused
    fail_env: Array  # (T,) failed sessions the environment (tools, infrastructure) caused
    # Per trial (the paper scorer's runs): feature sums and counts, scored sessions present.
    trial_feat_sum: Array  # (K, T, F)
    trial_feat_n: Array  # (K, T)
    trial_present: Array  # (K, T)
    # Per trial, per task: answer vectors (the paper pairs run k with batch k for Eval).
    trial_answers: tuple[tuple[tuple[Array, ...], ...], ...]
    # Per task: (file position, own answers, second person's answers) of conversations a
    # second person also rated (the paper's ceiling Eval).
    rater2: tuple[tuple[tuple[int, Array, Array], ...], ...]

    @property
    def n_trials(self) -> int:
        return int(self.trial_sum.shape[0])


def build_side(
    sessions: Sequence[ScoredSession],
    index: Mapping[str, int],
    *,
    single_trial: bool = False,
    trials: Sequence[int] | None = None,
) -> Side:
    """Sum sessions per task. Trials are the sessions' `trial` values (a simulator's runs);
    `single_trial` pools them (people: a batch is one "run"). `trials` fixes the trial axis
    (a subset of a simulator's sessions keeps its runs' positions)."""
    T = len(index)
    if trials is None:
        trials = sorted({0 if single_trial else s.trial for s in sessions}) or [0]
    tpos = {t: i for i, t in enumerate(trials)}
    K = len(trials)
    trial_feat_sum = np.zeros((K, T, N_FEATURES))
    trial_feat_n = np.zeros((K, T))
    trial_present = np.zeros((K, T))
    trial_answers: list[list[list[Array]]] = [[[] for _ in range(T)] for _ in range(K)]
    rater2: list[list[tuple[int, Array, Array]]] = [[] for _ in range(T)]
    feat_sum = np.zeros((T, N_FEATURES))
    feat_n = np.zeros(T)
    out_sum = np.zeros(T)
    out_n = np.zeros(T)
    trial_sum = np.zeros((len(trials), T))
    trial_n = np.zeros((len(trials), T))
    n_sessions = np.zeros(T)
    fail_user = np.zeros(T)
    fail_env = np.zeros(T)
    answers: list[list[Array]] = [[] for _ in range(T)]
    for s in sessions:
        t = index.get(s.task)
        if t is None:
            continue
        k = tpos[0 if single_trial else s.trial]
        if s.answers is not None:
            answers[t].append(s.answers)
            trial_answers[k][t].append(s.answers)
        if s.eval_only:
            continue
        if s.answers is not None and s.rater2 is not None:
            rater2[t].append((s.rater2_order, s.answers, s.rater2))
        n_sessions[t] += 1
        trial_present[k, t] = 1.0
        if s.features is not None:
            feat_sum[t] += s.features
            feat_n[t] += 1
            trial_feat_sum[k, t] += s.features
            trial_feat_n[k, t] += 1
        if s.success is not None:
            out_sum[t] += s.success
            out_n[t] += 1
            trial_sum[k, t] += s.success
            trial_n[k, t] += 1
            if s.success < 1.0:
                fail_user[t] += s.failure == "user"
                fail_env[t] += s.failure == "environment"
    return Side(
        feat_sum=feat_sum,
        feat_n=feat_n,
        out_sum=out_sum,
        out_n=out_n,
        trial_sum=trial_sum,
        trial_n=trial_n,
        n_sessions=n_sessions,
        answers=tuple(tuple(a) for a in answers),
        fail_user=fail_user,
        fail_env=fail_env,
        trial_feat_sum=trial_feat_sum,
        trial_feat_n=trial_feat_n,
        trial_present=trial_present,
        trial_answers=tuple(tuple(tuple(a) for a in per_t) for per_t in trial_answers),
        rater2=tuple(tuple(sorted(r, key=lambda x: x[0])) for r in rater2),
    )


@dataclass(frozen=True)
class Layout:
    """Where each quantity sits among the columns of a pair matrix."""

    n_trials: int

    @property
    def c_feat(self) -> slice:
        return slice(0, N_FEATURES)

    @property
    def c_n(self) -> int:
        return N_FEATURES

    @property
    def r_feat(self) -> slice:
        return slice(N_FEATURES + 1, 2 * N_FEATURES + 1)

    @property
    def r_n(self) -> int:
        return 2 * N_FEATURES + 1

    @property
    def ece(self) -> slice:
        start = 2 * N_FEATURES + 2
        return slice(start, start + self.n_trials * N_BINS * 3)

    @property
    def ev(self) -> int:
        return 2 * N_FEATURES + 2 + self.n_trials * N_BINS * 3

    @property
    def sr(self) -> int:
        return self.ev + 2

    @property
    def fail(self) -> int:
        """Failure attribution: candidate user-caused, environment-caused, then the same two
        for the reference."""
        return self.sr + 4

    @property
    def width(self) -> int:
        return self.fail + 4


class ScoringLayout(Protocol):
    """The layout of a pair built under non-default rules (metrics.paper): it reads its own
    sums back into `Scores`."""

    @property
    def n_trials(self) -> int: ...

    @property
    def width(self) -> int: ...

    def scores(self, A: Array) -> Scores: ...


@dataclass(frozen=True)
class Pair:
    """A candidate side against one reference side, on the tasks both have."""

    matrix: Array  # (T, layout.width)
    layout: Layout | ScoringLayout
    included: NDArray[np.bool_]  # (T,) tasks on both sides (and in the mask)
    eval_task: Array  # (T,) per-task Eval agreement (NaN: not available)


def build_pair(
    cand: Side,
    ref: Side,
    *,
    bins: NDArray[np.int64],
    levels: Sequence[Array],
    mask: NDArray[np.bool_] | None = None,
    n_trials: int | None = None,
) -> Pair:
    """Reduce (candidate, reference batch) to the per-task matrix the scores are read from.

    `bins` holds each task's difficulty bin (-1: unknown, left out of calibration); `mask`
    restricts the tasks further (the permutation test uses the tasks common to two simulators);
    `n_trials` pads the trial axis so two candidates can share one layout.
    """
    T = cand.feat_n.shape[0]
    inc = (cand.n_sessions > 0) & (ref.n_sessions > 0)
    if mask is not None:
        inc &= mask
    K = max(cand.n_trials, n_trials or 0)
    lay = Layout(n_trials=K)
    M = np.zeros((T, lay.width))
    w = inc.astype(np.float64)
    M[:, lay.c_feat] = cand.feat_sum * w[:, None]
    M[:, lay.c_n] = cand.feat_n * w
    M[:, lay.r_feat] = ref.feat_sum * w[:, None]
    M[:, lay.r_n] = ref.feat_n * w

    M[:, lay.ece] = calibration_block(cand, ref, inc=inc, bins=bins, n_trials=K)

    eval_task = np.full(T, np.nan)
    for t in np.flatnonzero(inc):
        if cand.answers[t] and ref.answers[t]:
            eval_task[t] = task_agreement(cand.answers[t], ref.answers[t], levels)
    has_eval = ~np.isnan(eval_task)
    M[:, lay.ev] = np.where(has_eval, eval_task, 0.0)
    M[:, lay.ev + 1] = has_eval.astype(np.float64)

    M[:, lay.sr] = cand.out_sum * w
    M[:, lay.sr + 1] = cand.out_n * w
    M[:, lay.sr + 2] = ref.out_sum * w
    M[:, lay.sr + 3] = ref.out_n * w
    M[:, lay.fail] = cand.fail_user * w
    M[:, lay.fail + 1] = cand.fail_env * w
    M[:, lay.fail + 2] = ref.fail_user * w
    M[:, lay.fail + 3] = ref.fail_env * w
    return Pair(matrix=M, layout=lay, included=inc, eval_task=eval_task)


def calibration_block(
    cand: Side,
    ref: Side,
    *,
    inc: NDArray[np.bool_],
    bins: NDArray[np.int64],
    n_trials: int,
) -> Array:
    """Per task, the calibration columns of the layout: for each trial k and bin b, over tasks
    with both outcomes and a known bin, (1, the candidate's success rate, the reference's).
    Shared by the default engine and paper mode, which calibrate the same way."""
    T = inc.shape[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        h_rate = np.where(ref.out_n > 0, ref.out_sum / np.maximum(ref.out_n, 1), 0.0)
    known = inc & (ref.out_n > 0) & (bins >= 0)
    block = np.zeros((T, n_trials, N_BINS, 3))
    onehot = np.zeros((T, N_BINS))
    onehot[known, bins[known]] = 1.0
    for k in range(cand.n_trials):
        present = known & (cand.trial_n[k] > 0)
        m = present.astype(np.float64)
        s_rate = np.where(present, cand.trial_sum[k] / np.maximum(cand.trial_n[k], 1), 0.0)
        block[:, k, :, 0] = onehot * m[:, None]
        block[:, k, :, 1] = onehot * (s_rate * m)[:, None]
        block[:, k, :, 2] = onehot * (h_rate * m)[:, None]
    return block.reshape(T, -1)


def build_pairs(
    cand: Side,
    refs: Sequence[Side],
    *,
    bins: NDArray[np.int64],
    levels: Sequence[Array],
    mask: NDArray[np.bool_] | None = None,
    n_trials: int | None = None,
    scorer: Scorer = SIMGAP,
) -> list[Pair]:
    """One pair per reference batch (in order). simgap's rules use `build_pair`; any other
    rule set (the paper's) the rule-by-rule engine, which sees all batches at once because
    the paper pairs run k with batch k and puts the mean Eval over batches in every USI."""
    if scorer.is_default:
        return [
            build_pair(cand, r, bins=bins, levels=levels, mask=mask, n_trials=n_trials)
            for r in refs
        ]
    from simgap.metrics.paper import build_rule_pairs

    return build_rule_pairs(
        cand, refs, bins=bins, levels=levels, mask=mask, n_trials=n_trials, scorer=scorer
    )


def _ratio(num: Array, den: Array) -> Array:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _nanmean(x: Array, axis: int) -> Array:
    """Mean ignoring NaN; NaN (not a warning) where everything is NaN."""
    ok = ~np.isnan(x)
    n = ok.sum(axis=axis)
    total = np.where(ok, x, 0.0).sum(axis=axis)
    return _ratio(total, n.astype(np.float64))


@dataclass(frozen=True)
class Scores:
    """All quantities for each row of a weighting (shape (B,) unless noted)."""

    components: dict[str, Array]  # D1..D4, Eval, Cal (0–100)
    usi: Array
    ece: Array
    sr_cand: Array
    sr_ref: Array
    fail_user_share: Array  # share of the candidate's failures its user caused
    fail_env_share: Array  # ... the environment caused
    fail_agent_share: Array  # ... the agent caused (the rest)
    sr_excl_user: Array  # candidate success rate, user-caused failures left out
    ref_fail_user_share: Array  # share of the reference's failures its user caused
    cand_features: Array  # (B, F) pooled feature means
    ref_features: Array  # (B, F)
    feature_dice: Array  # (B, F)


def scores(A: Array, lay: Layout | ScoringLayout) -> Scores:
    """Every USI quantity from aggregated sums `A = W @ M` (one row per weighting)."""
    if not isinstance(lay, Layout):  # a layout of the rule-by-rule engine (metrics.paper)
        return lay.scores(A)
    cf = _ratio(A[:, lay.c_feat], A[:, [lay.c_n]])
    rf = _ratio(A[:, lay.r_feat], A[:, [lay.r_n]])
    ev = _ratio(A[:, lay.ev], A[:, lay.ev + 1])
    return assemble(
        A, cf, rf, A[:, lay.ece], ev, ev, n_trials=lay.n_trials, sr=lay.sr, fail=lay.fail
    )


def ece_from_block(block: Array, n_trials: int) -> Array:
    """Mean over trials of each trial's ECE, from the (tasks, S, H) sums per trial and bin."""
    E = block.reshape(block.shape[0], n_trials, N_BINS, 3)
    n_tasks = E[..., 0].sum(axis=2)  # (B, K)
    # Σ_b (n_b/N)|s_b − h_b| with s_b = S_b/n_b, h_b = H_b/n_b  ==  Σ_b |S_b − H_b| / N
    gap = np.abs(E[..., 1] - E[..., 2]).sum(axis=2)
    return _nanmean(_ratio(gap, n_tasks), axis=1)


def assemble(
    A: Array,
    cf: Array,
    rf: Array,
    ece_block: Array,
    ev: Array,
    ev_usi: Array,
    *,
    n_trials: int,
    sr: int,
    fail: int,
) -> Scores:
    """Scores from the pooled feature rows, the calibration sums, Eval (`ev` reported, `ev_usi`
    the value inside the USI) and the outcome columns at `sr` and `fail` of `A`."""
    fd = dice(rf, cf)
    comps: dict[str, Array] = {
        d: 100.0 * fd[:, idx].mean(axis=1) for d, idx in DIMENSION_INDEX.items()
    }
    ece = ece_from_block(ece_block, n_trials)
    comps["Cal"] = 100.0 * (1.0 - ece)
    comps["Eval"] = ev

    core = np.stack([comps[c] for c in ("D1", "D2", "D3", "D4", "Cal")], axis=1)
    with_eval = np.concatenate([core, ev_usi[:, None]], axis=1).mean(axis=1)
    # The paper's scorer averages five components when no survey data exist (Eval absent).
    usi = np.where(np.isnan(ev_usi), core.mean(axis=1), with_eval)
    c_succ, c_n = A[:, sr], A[:, sr + 1]
    c_fail = c_n - c_succ
    r_fail = A[:, sr + 3] - A[:, sr + 2]
    f_user, f_env = A[:, fail], A[:, fail + 1]
    return Scores(
        components={c: comps[c] for c in COMPONENTS},
        usi=usi,
        ece=ece,
        sr_cand=_ratio(A[:, sr], A[:, sr + 1]),
        sr_ref=_ratio(A[:, sr + 2], A[:, sr + 3]),
        fail_user_share=_ratio(f_user, c_fail),
        fail_env_share=_ratio(f_env, c_fail),
        fail_agent_share=_ratio(c_fail - f_user - f_env, c_fail),
        sr_excl_user=_ratio(c_succ, c_n - f_user),
        ref_fail_user_share=_ratio(A[:, fail + 2], r_fail),
        cand_features=cf,
        ref_features=rf,
        feature_dice=fd,
    )


def bootstrap_weights(
    rng: np.random.Generator, universe: NDArray[np.int64], n_tasks: int, n_boot: int
) -> Array:
    """(n_boot, n_tasks) task multiplicities: each row resamples the `universe` tasks with
    replacement (multinomial counts); tasks outside it get weight 0."""
    W = np.zeros((n_boot, n_tasks))
    n = len(universe)
    if n:
        W[:, universe] = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)
    return W
