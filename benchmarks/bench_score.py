"""Benchmark: scoring 10,000 sessions × 6 USI dimensions with 1,000 bootstrap resamples.

All sessions are SYNTHETIC (random feature vectors, outcomes and questionnaire answers drawn
from fixed distributions; labelled synthetic): they stand in for people and simulators only to
measure speed.

Setup: 1,000 tasks; the reference has 3 batches × 1,000 sessions (one per task, like the
paper's people), the candidate simulator 7 trials × 1,000 sessions; total 10,000 sessions.

Measured in the same run:

* vectorised: `simgap.metrics.score_scored` end to end — the human ceiling (3 batch pairs) and
  the candidate against 3 batches, each with point estimates and 1,000 bootstrap resamples
  (target: < 10 s on the 2-core dev machine);
* naive: `simgap.metrics.naive.naive_bootstrap_usi`, the same candidate USI recomputed with
  Python loops one resample at a time. It is run on `--naive-resamples` resamples (default 10)
  and extrapolated linearly to 1,000 — say so when quoting it. It covers only the candidate
  row, while the vectorised time also includes the ceiling row, so the ratio is conservative.

Run: `.venv/bin/python benchmarks/bench_score.py [--naive-resamples N]`
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from simgap.annotate.features import FEATURE_NAMES, usi_features
from simgap.metrics import ScoredSet, ScoreSettings, score_scored
from simgap.metrics.calibration import pooled_difficulty
from simgap.metrics.evaluative import field_levels
from simgap.metrics.naive import naive_bootstrap_usi
from simgap.metrics.table import Reduction, ScoredSession
from simgap.models import load_questionnaire

N_TASKS = 1000
REF_BATCHES = 3
CAND_TRIALS = 7
N_BOOT = 1000


def synthetic_sessions(
    rng: np.random.Generator, *, prefix: str, batch: str, trial: int, scale: float, p: float
) -> list[ScoredSession]:
    """One synthetic session per task (random features, outcome, answers)."""
    n_fields = len(load_questionnaire("usi").scored_items)
    feats = rng.gamma(2.0, scale, size=(N_TASKS, len(FEATURE_NAMES)))
    success = (rng.random(N_TASKS) < p).astype(np.float64)
    answers = rng.integers(0, 5, size=(N_TASKS, n_fields)) / 4.0
    return [
        ScoredSession(
            session_id=f"{prefix}-{batch}-{trial}-{t}",
            task=f"synthetic/{t}",
            trial=trial,
            user_id=prefix,
            batch=batch,
            features=feats[t],
            success=float(success[t]),
            answers=answers[t],
            synthetic=True,
        )
        for t in range(N_TASKS)
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--naive-resamples", type=int, default=10)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    rng = np.random.default_rng(args.seed)
    ref = [
        s
        for b in range(REF_BATCHES)
        for s in synthetic_sessions(
            rng, prefix="synthetic-people", batch=f"b{b + 1}", trial=0, scale=1.0, p=0.45
        )
    ]
    cand = [
        s
        for k in range(CAND_TRIALS)
        for s in synthetic_sessions(
            rng, prefix="synthetic-sim", batch="sim", trial=k, scale=1.3, p=0.65
        )
    ]
    n_sessions = len(ref) + len(cand)
    print(
        f"synthetic data: {n_sessions:,} sessions ({len(ref):,} reference in {REF_BATCHES} "
        f"batches, {len(cand):,} candidate in {CAND_TRIALS} trials), {N_TASKS:,} tasks, "
        f"6 dimensions (19 features), {N_BOOT:,} bootstrap resamples"
    )
    ref_set = ScoredSet("synthetic people", "synthetic", [], True, Reduction(sessions=ref))
    cand_set = ScoredSet("synthetic simulator", "synthetic", [], True, Reduction(sessions=cand))
    settings = ScoreSettings(n_boot=N_BOOT, seed=args.seed, n_permutations=0)

    t0 = time.perf_counter()
    lb = score_scored(ref_set, [cand_set], settings)
    t_vec = time.perf_counter() - t0
    row = lb.rows[0]
    usi = row.estimates["USI"]
    assert lb.ceiling is not None
    print(
        f"vectorised (score_scored: ceiling + candidate, point + {N_BOOT} resamples each): "
        f"{t_vec:.2f} s  [candidate USI {usi.value:.2f}, 95% CI {usi.ci_low:.2f}–"
        f"{usi.ci_high:.2f}; ceiling {lb.ceiling.estimates['USI'].value:.2f}]"
    )

    batches: dict[str, list[ScoredSession]] = {}
    for s in ref:
        batches.setdefault(s.batch, []).append(s)
    difficulty = pooled_difficulty([(s.task, s.success) for s in cand if s.success is not None])
    levels = field_levels(load_questionnaire("usi"))
    n_naive = max(1, args.naive_resamples)
    t0 = time.perf_counter()
    naive_bootstrap_usi(
        cand, batches, difficulty=difficulty, levels=levels, n_boot=n_naive, seed=args.seed
    )
    t_naive = time.perf_counter() - t0
    per = t_naive / n_naive
    t_naive_full = per * N_BOOT
    print(
        f"naive per-resample Python loop (candidate row only): {t_naive:.2f} s for {n_naive} "
        f"resamples = {per:.3f} s/resample -> {t_naive_full:.0f} s extrapolated to {N_BOOT}"
    )
    print(f"ratio naive/vectorised: {t_naive_full / t_vec:.0f}x")
    print(f"target < 10 s: {'met' if t_vec < 10 else 'MISSED'}")

    # For context (not part of the target): the 19 features from text, which `simgap score`
    # computes when no current annotation is stored.
    texts = [
        "Hi, I need to cancel my order #W1234567 please.",
        "its mia_garcia_4516",
        "ok",
        "Are you sure? I think that's wrong, I already told you.",
        "Actually, how about a refund to my credit card instead?",
        "Thanks for your help!",
    ]
    t0 = time.perf_counter()
    for i in range(n_sessions):
        usi_features(texts[: 2 + i % 5])
    t_feat = time.perf_counter() - t0
    print(f"context: 19 text features of {n_sessions:,} synthetic sessions: {t_feat:.2f} s")


if __name__ == "__main__":
    main()
