"""Task-clustered intervals vs session-level ones, failure shares, noise floor and verdicts,
against hand-computed values on SYNTHETIC fixtures."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simgap.metrics import ScoreSettings
from simgap.metrics.calibration import bin_indices
from simgap.metrics.clustered import success_interval
from simgap.metrics.core import build_side
from simgap.metrics.evaluative import field_levels
from simgap.metrics.leaderboard import ScoredSet, score_scored
from simgap.metrics.permutation import Comparison, paired_permutation_test, with_noise_floor
from simgap.metrics.table import Reduction, ScoredSession
from simgap.models import load_questionnaire
from tests.metrics.synth import scored

LEVELS = field_levels(load_questionnaire("usi"))


def clustered(
    pattern: list[bool], per_task: int, *, user: str = "synthetic-sim", batch: str = "b1"
) -> list[ScoredSession]:
    """Task i: every one of its `per_task` sessions succeeds when pattern[i], else fails
    (intra-task correlation 1: the extreme case of sessions nested in tasks)."""
    return [
        scored(f"t{i}", success=float(ok), user=user, batch=batch, sid=f"synthetic-{user}-{i}-{k}")
        for i, ok in enumerate(pattern)
        for k in range(per_task)
    ]


def _set(label: str, sessions: list[ScoredSession]) -> ScoredSet:
    return ScoredSet(label, label, [label], True, Reduction(sessions=sessions))


# -- 1. task-clustered vs session-level resampling ---------------------------------------------
def test_session_resampling_is_visibly_too_narrow() -> None:
    # 10 tasks × 10 sessions; tasks 0,2,4,6,8 always succeed, 1,3,5,7,9 always fail: SR = 0.5.
    sim = clustered([i % 2 == 0 for i in range(10)], 10)
    by_task = success_interval(sim, unit="tasks", n_boot=4000, seed=0)
    by_session = success_interval(sim, unit="sessions", n_boot=4000, seed=0)
    assert by_task.value == by_session.value == pytest.approx(0.5)
    # Tasks: SR* = K/10 with K ~ Bin(10, 1/2); P(K ≤ 1) = 11/1024 = 1.1% < 2.5% < P(K ≤ 2) =
    # 56/1024 = 5.5%, so the 2.5th / 97.5th percentiles are 0.2 / 0.8: width 0.6.
    assert by_task.ci_low == pytest.approx(0.2) and by_task.ci_high == pytest.approx(0.8)
    # Sessions (as if 100 independent draws): SE = √(0.25/100) = 0.05, width ≈ 2·1.96·0.05
    # = 0.196 — three times too narrow (√10 = √(1 + (10 − 1)·ICC) with ICC = 1).
    assert 0.16 <= by_session.width <= 0.24
    assert by_task.width / by_session.width > 2.5


def test_leaderboard_resamples_tasks_and_says_so() -> None:
    pattern = [i % 2 == 0 for i in range(10)]
    ref = clustered(pattern, 10, user="synthetic-person")
    sim = clustered(pattern, 10)
    lb = score_scored(
        _set("synthetic people", ref),
        [_set("synthetic-sim", sim)],
        ScoreSettings(n_boot=4000, n_permutations=0, seed=0),
    )
    sr = lb.rows[0].estimates["SR_sim"]
    # the same task-clustered interval as above (hand: [0.2, 0.8])
    assert sr.value == pytest.approx(0.5)
    assert sr.ci_low == pytest.approx(0.2) and sr.ci_high == pytest.approx(0.8)
    doc = lb.to_json()
    assert doc["settings"]["resampling"] == "tasks"
    assert "nested in tasks" in doc["settings"]["resampling_detail"]
    naive = success_interval(sim, unit="sessions", n_boot=4000, seed=0)
    assert sr.ci_high - sr.ci_low > 2.5 * naive.width


def test_gap_interval_is_wider_by_tasks() -> None:
    # Simulator succeeds on tasks 0–5 of 8, people on tasks 0–2 (8 sessions per task each):
    # gap = 6/8 − 3/8 = 0.375 points of inflation.
    sim = clustered([i < 6 for i in range(8)], 8)
    ppl = clustered([i < 3 for i in range(8)], 8, user="synthetic-person")
    t = success_interval(sim, ppl, unit="tasks", n_boot=3000, seed=1)
    s = success_interval(sim, ppl, unit="sessions", n_boot=3000, seed=1)
    assert t.value == s.value == pytest.approx(0.375)
    # Resampling tasks keeps both sides of a task together; tasks 0–2 are easy for both, which
    # partly cancels in the difference, so the ratio is below √8 but still about 1.9 here
    # (session-level width 0.33 vs 0.63).
    assert t.width > 1.5 * s.width


@settings(max_examples=25, deadline=None)
@given(
    pattern=st.lists(st.booleans(), min_size=4, max_size=12).filter(
        lambda p: any(p) and not all(p)
    ),
    per_task=st.integers(4, 10),
    seed=st.integers(0, 10_000),
)
def test_clustered_interval_never_narrower_on_clustered_data(
    pattern: list[bool], per_task: int, seed: int
) -> None:
    sim = clustered(pattern, per_task)
    t = success_interval(sim, unit="tasks", n_boot=1500, seed=seed)
    s = success_interval(sim, unit="sessions", n_boot=1500, seed=seed)
    assert t.width >= s.width
    assert 0.0 <= t.ci_low <= t.value <= t.ci_high <= 1.0


def test_unknown_unit_and_empty_input_are_errors() -> None:
    with pytest.raises(ValueError, match="unit must be"):
        success_interval(clustered([True, False], 2), unit="people")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no task"):
        success_interval([])


# -- 3. failure attribution shares and 2. noise floor -------------------------------------------
def _failure_fixture() -> tuple[ScoredSet, ScoredSet]:
    # Candidate, 5 tasks × 2 trials (outcome/cause per trial):
    #   t0: ✓ ✓ | t1: ✓, ✗user | t2: ✗user, ✓ | t3: ✗user, ✗env | t4: ✗agent, ✗agent
    cand = [
        scored("t0", success=1.0, trial=0),
        scored("t0", success=1.0, trial=1),
        scored("t1", success=1.0, trial=0),
        scored("t1", success=0.0, trial=1, failure="user"),
        scored("t2", success=0.0, trial=0, failure="user"),
        scored("t2", success=1.0, trial=1),
        scored("t3", success=0.0, trial=0, failure="user"),
        scored("t3", success=0.0, trial=1, failure="environment"),
        scored("t4", success=0.0, trial=0, failure="agent"),
        scored("t4", success=0.0, trial=1, failure="agent"),
    ]
    # People (one batch): ✓ ✓ ✗user ✗agent ✗agent
    ppl = [
        scored("t0", success=1.0, user="synthetic-person"),
        scored("t1", success=1.0, user="synthetic-person"),
        scored("t2", success=0.0, user="synthetic-person", failure="user"),
        scored("t3", success=0.0, user="synthetic-person", failure="agent"),
        scored("t4", success=0.0, user="synthetic-person", failure="agent"),
    ]
    return _set("synthetic people", ppl), _set("synthetic-sim", cand)


def test_failure_shares_and_success_without_user_caused_failures() -> None:
    ref, cand = _failure_fixture()
    lb = score_scored(ref, [cand], ScoreSettings(n_boot=300, n_permutations=0, seed=0))
    (row,) = lb.rows
    e = row.estimates
    # 10 sessions, 4 successes, 6 failures: user 3, environment 1, agent 2
    assert e["SR_sim"].value == pytest.approx(4 / 10)
    assert e["Fail_user_share"].value == pytest.approx(3 / 6)  # 0.5
    assert e["Fail_env_share"].value == pytest.approx(1 / 6)  # 0.167
    assert e["Fail_agent_share"].value == pytest.approx(2 / 6)  # 0.333
    # success with the 3 user-caused failures left out: 4 / (10 − 3) = 0.571
    assert e["SR_excl_user"].value == pytest.approx(4 / 7)
    # people: 3 failures, 1 caused by the person
    assert e["Fail_user_share_ref"].value == pytest.approx(1 / 3)
    # SR inflation: 0.4 − 2/5 = 0
    assert e["SR_inflation"].value == pytest.approx(0.0)
    assert row.failures["n_failed"] == 6 and row.failures["n_with_outcome"] == 10
    assert row.failures["by_cause"] == {"agent": 2, "user": 3, "environment": 1}
    lo, hi = e["Fail_user_share"].ci_low, e["Fail_user_share"].ci_high
    assert lo is not None and hi is not None and 0.0 <= lo <= 0.5 <= hi <= 1.0
    doc = lb.to_json()["rows"][0]
    assert doc["failures"]["user_caused_share"]["value"] == pytest.approx(0.5)
    assert doc["failures"]["sr_excl_user_caused"]["value"] == pytest.approx(4 / 7)


def test_success_noise_floor_over_trials() -> None:
    ref, cand = _failure_fixture()
    lb = score_scored(ref, [cand], ScoreSettings(n_boot=0, n_permutations=0))
    nf = lb.rows[0].noise_floor
    assert nf is not None and nf.trials == [0, 1]
    # trial 0: t0 ✓, t1 ✓, t2 ✗, t3 ✗, t4 ✗ -> 2/5 = 0.4
    # trial 1: t0 ✓, t1 ✗, t2 ✓, t3 ✗, t4 ✗ -> 2/5 = 0.4   -> range 0, std 0
    assert nf.values["SR_sim"] == [pytest.approx(0.4), pytest.approx(0.4)]
    assert nf.spread["SR_sim"] == pytest.approx(0.0) and nf.std["SR_sim"] == pytest.approx(0.0)
    # user-caused share: trial 0 = 2 of 3 failures (t2, t3), trial 1 = 1 of 3 (t1) -> range 1/3
    assert nf.values["Fail_user_share"] == [pytest.approx(2 / 3), pytest.approx(1 / 3)]
    assert nf.spread["Fail_user_share"] == pytest.approx(1 / 3)
    # std (ddof 1) of {2/3, 1/3} = √(2·(1/6)²) = 0.2357
    assert nf.std["Fail_user_share"] == pytest.approx(np.sqrt(2) / 6)
    assert lb.to_json()["rows"][0]["noise_floor"]["n_repeats"] == 2
    off = score_scored(ref, [cand], ScoreSettings(n_boot=0, n_permutations=0, repeats=0))
    assert off.rows[0].noise_floor is None


def _usi_sim(label: str, wins: list[list[int]]) -> ScoredSet:
    """5 tasks; features all zero (same as the people: D1–D4 = 100); no questionnaire (USI
    averages five components); trial k succeeds on the tasks in wins[k]."""
    return _set(
        label,
        [
            scored(f"t{i}", success=float(i in w), trial=k, user=label)
            for k, w in enumerate(wins)
            for i in range(5)
        ],
    )


def test_usi_noise_floor_and_not_distinguishable_within_it() -> None:
    ppl = _set("synthetic people", [scored(f"t{i}", success=1.0) for i in range(5)])
    a = _usi_sim("synthetic-a", [[0, 1, 2, 3], [0, 1]])
    b = _usi_sim("synthetic-b", [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]])
    frozen = {f"t{i}": 0.5 for i in range(5)}  # one difficulty bin
    lb = score_scored(
        ppl,
        [a, b],
        ScoreSettings(n_boot=0, n_permutations=500, seed=0, difficulty=frozen),
    )
    rows = {r.label: r for r in lb.rows}
    nf = rows["synthetic-a"].noise_floor
    assert nf is not None
    # A, trial 0: SR 4/5, people 1 -> ECE 0.2, Cal 80, USI (4·100 + 80)/5 = 96
    # A, trial 1: SR 2/5 -> ECE 0.6, Cal 40, USI (400 + 40)/5 = 88   -> noise floor 96 − 88 = 8
    assert nf.values["USI"] == [pytest.approx(96.0), pytest.approx(88.0)]
    assert nf.spread["USI"] == pytest.approx(8.0)
    assert nf.std["USI"] == pytest.approx(np.sqrt(32.0))  # √((4² + 4²)/1) = 5.657
    # A pooled: mean per-trial ECE (0.2 + 0.6)/2 = 0.4 -> Cal 60 -> USI 92; B: 100 (floor 0)
    assert rows["synthetic-a"].usi == pytest.approx(92.0)
    assert rows["synthetic-b"].usi == pytest.approx(100.0)
    assert rows["synthetic-b"].noise_floor is not None
    assert rows["synthetic-b"].noise_floor.spread["USI"] == pytest.approx(0.0)
    (cmp,) = lb.comparisons
    # |ΔUSI| = 8 is not larger than the noise floor max(8, 0) = 8: not distinguishable
    assert abs(cmp.diff or 0) == pytest.approx(8.0) and cmp.noise_floor == pytest.approx(8.0)
    assert cmp.distinguishable is False and "not distinguishable" in cmp.verdict
    assert cmp.p_value is not None and cmp.sr_p_value is not None
    # SR(A) pooled 6/10, SR(B) 1 -> ΔSR 0.4 (order of a/b as in the comparison)
    assert abs(cmp.sr_diff or 0) == pytest.approx(0.4)
    assert lb.to_json()["comparisons"][0]["verdict"] == cmp.verdict
    # both rows carry the tie, each with its own sign of ΔUSI (A − B = 92 − 100 = −8)
    (tie_a,) = rows["synthetic-a"].not_distinguishable
    (tie_b,) = rows["synthetic-b"].not_distinguishable
    assert tie_a["label"] == "synthetic-b" and tie_a["diff"] == pytest.approx(-8.0)
    assert tie_b["label"] == "synthetic-a" and tie_b["diff"] == pytest.approx(8.0)
    assert tie_a["p_value"] == cmp.p_value and tie_a["noise_floor"] == pytest.approx(8.0)


def test_verdict_rules() -> None:
    base = Comparison("a", "b", 80.0, 70.0, 10.0, 0.01, 20, 1000)
    sig = with_noise_floor(base, usi_floor=(3.0, 5.0), sr_floor=(None, None), alpha=0.05)
    assert sig.distinguishable is True and sig.noise_floor == 5.0
    assert "10.0 > noise floor 5.0" in sig.verdict
    within = with_noise_floor(base, usi_floor=(12.0, None), sr_floor=(0.1, 0.2), alpha=0.05)
    assert within.distinguishable is False and within.noise_floor == 12.0
    assert (
        within.sr_noise_floor == 0.2 and "within the run-to-run noise floor 12.0" in within.verdict
    )
    not_sig = with_noise_floor(
        Comparison("a", "b", 80.0, 70.0, 10.0, 0.2, 20, 1000),
        usi_floor=(None, None),
        sr_floor=(None, None),
        alpha=0.05,
    )
    assert not_sig.distinguishable is False and "p = 0.200 ≥ 0.05" in not_sig.verdict
    no_floor = with_noise_floor(base, usi_floor=(None, None), sr_floor=(None, None), alpha=0.05)
    assert no_floor.distinguishable is True and "noise floor n/a" in no_floor.verdict
    na = with_noise_floor(
        Comparison("a", "b", None, None, None, None, 0, 0),
        usi_floor=(1.0, 1.0),
        sr_floor=(None, None),
        alpha=0.05,
    )
    assert na.distinguishable is None


# -- permutation test: symmetry and the SR test ------------------------------------------------
@settings(max_examples=15, deadline=None)
@given(
    succ_a=st.lists(st.booleans(), min_size=6, max_size=6),
    succ_b=st.lists(st.booleans(), min_size=6, max_size=6),
    scale=st.floats(0.5, 3.0),
    seed=st.integers(0, 1000),
)
def test_permutation_test_is_symmetric(
    succ_a: list[bool], succ_b: list[bool], scale: float, seed: int
) -> None:
    tasks = [f"t{i}" for i in range(6)]
    index = {t: i for i, t in enumerate(tasks)}
    bins = bin_indices(np.full(6, 0.5))
    feats = np.random.default_rng(0).gamma(2.0, 1.0, size=(6, 19))
    ref = [scored(t, feats=feats[i], success=float(i % 2)) for i, t in enumerate(tasks)]
    a = [scored(t, feats=feats[i], success=float(succ_a[i]), user="a") for i, t in enumerate(tasks)]
    b = [
        scored(t, feats=feats[i] * scale, success=float(succ_b[i]), user="b")
        for i, t in enumerate(tasks)
    ]
    refs = {"b1": build_side(ref, index, single_trial=True)}
    sa, sb = ("a", build_side(a, index)), ("b", build_side(b, index))
    kw = {"bins": bins, "levels": LEVELS, "n_permutations": 200}
    ab = paired_permutation_test(sa, sb, refs, rng=np.random.default_rng(seed), **kw)  # type: ignore[arg-type]
    ba = paired_permutation_test(sb, sa, refs, rng=np.random.default_rng(seed), **kw)  # type: ignore[arg-type]
    assert ab.diff == pytest.approx(-(ba.diff or 0.0), abs=1e-9)
    assert ab.p_value == pytest.approx(ba.p_value)
    assert ab.sr_diff == pytest.approx(-(ba.sr_diff or 0.0), abs=1e-12)
    assert ab.sr_p_value == pytest.approx(ba.sr_p_value)
    for p in (ab.p_value, ab.sr_p_value):
        assert p is not None and 0.0 < p <= 1.0
    if succ_a == succ_b:
        assert ab.sr_diff == 0.0 and ab.sr_p_value == 1.0  # every permutation is as extreme


@settings(max_examples=30, deadline=None)
@given(
    outcomes=st.lists(
        st.sampled_from(["ok", "agent", "user", "environment"]), min_size=2, max_size=30
    ),
    n_boot=st.sampled_from([0, 50]),
)
def test_failure_shares_are_bounded_and_sum_to_one(outcomes: list[str], n_boot: int) -> None:
    cand = [
        scored(
            f"t{i % 5}",
            success=1.0 if o == "ok" else 0.0,
            trial=i // 5,
            failure=None if o == "ok" else o,
        )
        for i, o in enumerate(outcomes)
    ]
    ppl = [scored(f"t{i}", success=1.0, user="synthetic-person") for i in range(5)]
    lb = score_scored(
        _set("synthetic people", ppl),
        [_set("synthetic-sim", cand)],
        ScoreSettings(n_boot=n_boot, n_permutations=0, repeats=0),
    )
    e = lb.rows[0].estimates
    n_fail = sum(o != "ok" for o in outcomes)
    sr, excl = e["SR_sim"].value, e["SR_excl_user"].value
    assert sr is not None and sr == pytest.approx(1 - n_fail / len(outcomes))
    if n_fail == 0:
        assert e["Fail_user_share"].value is None  # no failure: no share (n/a, not 0)
    else:
        shares = [e[q].value for q in ("Fail_user_share", "Fail_env_share", "Fail_agent_share")]
        assert all(s is not None and 0.0 <= s <= 1.0 for s in shares)
        assert sum(s for s in shares if s is not None) == pytest.approx(1.0)
    if excl is not None:  # n/a only when every session is a user-caused failure
        assert sr - 1e-12 <= excl <= 1.0
    else:
        assert all(o == "user" for o in outcomes)


@settings(max_examples=10, deadline=None)
@given(
    wins=st.lists(st.lists(st.booleans(), min_size=6, max_size=6), min_size=2, max_size=4),
    seed=st.integers(0, 1000),
)
def test_noise_floor_values_are_each_trial_scored_alone(wins: list[list[bool]], seed: int) -> None:
    rng = np.random.default_rng(seed)
    feats = rng.gamma(2.0, 1.0, size=(len(wins), 6, 19))
    ppl = [
        scored(f"t{i}", feats=feats[0, i], success=float(i % 2), user="synthetic-person")
        for i in range(6)
    ]
    trials = [
        [scored(f"t{i}", feats=feats[k, i], success=float(w[i]), trial=k) for i in range(6)]
        for k, w in enumerate(wins)
    ]
    # a frozen difficulty map, so a trial scored alone sees the same bins as inside the set
    frozen = {f"t{i}": 0.3 if i < 3 else 0.7 for i in range(6)}
    quiet = ScoreSettings(n_boot=0, n_permutations=0, repeats=0, difficulty=frozen)
    cfg = ScoreSettings(n_boot=0, n_permutations=0, difficulty=frozen)
    lb = score_scored(
        _set("synthetic people", ppl), [_set("synthetic-sim", [x for t in trials for x in t])], cfg
    )
    nf = lb.rows[0].noise_floor
    assert nf is not None and nf.n_repeats == len(wins)
    for k, sessions in enumerate(trials):
        alone = score_scored(
            _set("synthetic people", ppl), [_set("synthetic-sim", sessions)], quiet
        )
        for q in ("USI", "D1", "D2", "SR_sim", "SR_inflation"):
            v = alone.rows[0].estimates[q].value
            assert v is not None and nf.values[q][k] == pytest.approx(v, abs=1e-9)
    usi = [v for v in nf.values["USI"] if v is not None]
    assert nf.spread["USI"] == pytest.approx(max(usi) - min(usi))
