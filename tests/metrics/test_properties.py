"""Property tests of the USI engine on random SYNTHETIC sets (hypothesis)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simgap.annotate.features import FEATURE_NAMES
from simgap.metrics.calibration import bin_indices, pooled_difficulty
from simgap.metrics.core import COMPONENTS, build_pair, build_side, scores
from simgap.metrics.dice import dice
from simgap.metrics.estimate import batch_mean, evaluate_pairs
from simgap.metrics.evaluative import field_levels
from simgap.metrics.naive import naive_usi
from simgap.metrics.table import ScoredSession
from simgap.models import load_questionnaire
from tests.metrics.synth import by_batch, scored

LEVELS = field_levels(load_questionnaire("usi"))
N_FIELDS = len(LEVELS)
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])

values = st.one_of(st.just(0.0), st.floats(0.0, 5.0, allow_nan=False, width=32))


@st.composite
def session_st(
    draw: st.DrawFn, task: str, *, batch: str, trial: int, user: str, answers: bool = True
) -> ScoredSession:
    feats = np.array(draw(st.lists(values, min_size=19, max_size=19)), dtype=np.float64)
    ans = None
    if answers and draw(st.booleans()):
        raw = draw(
            st.lists(st.sampled_from([np.nan, 0.0, 0.5, 1.0]), min_size=N_FIELDS, max_size=N_FIELDS)
        )
        ans = np.array(raw, dtype=np.float64)
    return scored(
        task,
        feats=feats,
        success=float(draw(st.integers(0, 1))),
        ans=ans,
        trial=trial,
        batch=batch,
        user=user,
    )


@st.composite
def sets_st(draw: st.DrawFn, *, max_trials: int = 3) -> tuple[list, list]:
    """(reference sessions in 1–3 batches, candidate sessions in 1–max_trials trials)."""
    n_tasks = draw(st.integers(1, 6))
    tasks = [f"t{i}" for i in range(n_tasks)]
    n_batches = draw(st.integers(1, 3))
    ref = []
    for b in range(n_batches):
        for t in tasks:
            # batch b1 has every task (like the paper's); later ones miss some
            if b == 0 or draw(st.integers(0, 4)) > 0:
                ref.append(draw(session_st(t, batch=f"b{b + 1}", trial=0, user="synthetic-p")))
    cand = []
    for k in range(draw(st.integers(1, max_trials))):
        for j, t in enumerate(tasks):
            if (k == 0 and j == 0) or draw(st.integers(0, 4)) > 0:
                cand.append(draw(session_st(t, batch="sim", trial=k, user="synthetic-s")))
    return ref, cand


def _pairs(ref: list, cand: list) -> tuple[list, dict, np.ndarray, dict]:
    tasks = sorted({s.task for s in ref} | {s.task for s in cand})
    index = {t: i for i, t in enumerate(tasks)}
    diff = pooled_difficulty([(s.task, s.success) for s in cand + ref])
    bins = bin_indices(np.array([diff.get(t, np.nan) for t in tasks]))
    side = build_side(cand, index)
    pairs = [
        build_pair(side, build_side(ss, index, single_trial=True), bins=bins, levels=LEVELS)
        for _, ss in sorted(by_batch(ref).items())
    ]
    return pairs, index, bins, diff


def _usi(pairs: list, W: np.ndarray) -> np.ndarray:
    return batch_mean(np.stack([scores(W @ p.matrix, p.layout).usi for p in pairs]))


@SETTINGS
@given(st.lists(values, min_size=1, max_size=8), st.lists(values, min_size=1, max_size=8))
def test_dice_symmetric_bounded(a: list[float], b: list[float]) -> None:
    n = min(len(a), len(b))
    x, y = np.array(a[:n]), np.array(b[:n])
    np.testing.assert_allclose(dice(x, y), dice(y, x))
    d = dice(x, y)
    assert np.all((d >= 0) & (d <= 1 + 1e-12))
    np.testing.assert_allclose(dice(x, x), 1.0)


@SETTINGS
@given(sets_st())
def test_every_dimension_in_range(data: tuple[list, list]) -> None:
    ref, cand = data
    pairs, index, *_ = _pairs(ref, cand)
    for p in pairs:
        s = scores(np.ones((1, len(index))) @ p.matrix, p.layout)
        for c in COMPONENTS:
            v = s.components[c][0]
            assert np.isnan(v) or -1e-9 <= v <= 100 + 1e-9, (c, v)
        assert np.isnan(s.usi[0]) or -1e-9 <= s.usi[0] <= 100 + 1e-9
        assert np.isnan(s.ece[0]) or 0 <= s.ece[0] <= 1 + 1e-12


@SETTINGS
@given(sets_st(max_trials=1))
def test_identical_sets_score_100(data: tuple[list, list]) -> None:
    ref, _ = data
    batch = [s for s in ref if s.batch == ref[0].batch]
    # every answered field present on both (a blank human field is skipped, a blank
    # simulator field is penalised: identical copies must answer what the person answered)
    twin = [
        replace(s, batch="sim", user_id="synthetic-twin", session_id=s.session_id + "-t")
        for s in batch
    ]
    pairs, index, *_ = _pairs(batch, twin)
    s = scores(np.ones((1, len(index))) @ pairs[0].matrix, pairs[0].layout)
    assert s.usi[0] == pytest.approx(100.0)
    for c in ("D1", "D2", "D3", "D4", "Cal"):
        assert s.components[c][0] == pytest.approx(100.0)
    assert np.isnan(s.components["Eval"][0]) or s.components["Eval"][0] == pytest.approx(100)


@SETTINGS
@given(sets_st(max_trials=1))
def test_swapping_sides_gives_the_same_score(data: tuple[list, list]) -> None:
    """Every component is symmetric in (candidate, reference) for one trial vs one batch."""
    ref, cand = data
    batch = [s for s in ref if s.batch == ref[0].batch]
    a, *_ = _pairs(batch, cand)
    flipped = [replace(s, batch="b1", trial=0) for s in cand]
    as_cand = [replace(s, batch="sim") for s in batch]
    b, *_ = _pairs(flipped, as_cand)
    T = a[0].matrix.shape[0]
    sa = scores(np.ones((1, T)) @ a[0].matrix, a[0].layout)
    sb = scores(np.ones((1, T)) @ b[0].matrix, b[0].layout)
    for c in ("D1", "D2", "D3", "D4", "Cal"):
        np.testing.assert_allclose(sa.components[c], sb.components[c], equal_nan=True)


@SETTINGS
@given(sets_st(max_trials=1), st.data())
def test_adding_an_identical_task_never_lowers_the_score(
    data: tuple[list, list], draw: st.DataObject
) -> None:
    """A new task where simulator and person behave identically can only pull the pooled
    feature values together (Dice up), add a perfect Eval task, and add calibration mass with
    no gap (ECE down): each component and the USI are non-decreasing."""
    ref, cand = data
    batch = [s for s in ref if s.batch == ref[0].batch]
    new = draw.draw(session_st("t-new", batch=batch[0].batch, trial=0, user="synthetic-p"))
    twin = replace(new, batch="sim", user_id="synthetic-s", session_id="synthetic-twin-new")
    before, idx0, *_ = _pairs(batch, cand)
    after, idx1, *_ = _pairs([*batch, new], [*cand, twin])
    s0 = scores(np.ones((1, len(idx0))) @ before[0].matrix, before[0].layout)
    s1 = scores(np.ones((1, len(idx1))) @ after[0].matrix, after[0].layout)
    for c in ("D1", "D2", "D3", "D4", "Cal"):
        if np.isfinite(s0.components[c][0]):
            assert s1.components[c][0] >= s0.components[c][0] - 1e-9, c
    if np.isfinite(s0.components["Eval"][0]) and np.isfinite(s1.components["Eval"][0]):
        assert s1.components["Eval"][0] >= s0.components["Eval"][0] - 1e-9
    if np.isfinite(s0.usi[0]) and np.isfinite(s0.components["Eval"][0]):
        assert s1.usi[0] >= s0.usi[0] - 1e-9


@SETTINGS
@given(sets_st(), st.integers(0, 2**32 - 1))
def test_vectorised_equals_loop_by_loop(data: tuple[list, list], seed: int) -> None:
    ref, cand = data
    pairs, index, _, diff = _pairs(ref, cand)
    rng = np.random.default_rng(seed)
    T = len(index)
    W = np.vstack([np.ones(T), rng.multinomial(T, np.full(T, 1 / T), size=3)])
    vec = _usi(pairs, W)
    for row, v in zip(W, vec, strict=True):
        counts = {t: int(row[i]) for t, i in index.items()}
        nv = naive_usi(cand, by_batch(ref), difficulty=diff, levels=LEVELS, task_counts=counts)
        if nv["USI"] is None:
            assert np.isnan(v)
        else:
            assert v == pytest.approx(nv["USI"], abs=1e-9)


@SETTINGS
@given(sets_st(), st.integers(0, 1000))
def test_duplicating_a_task_equals_weight_two(data: tuple[list, list], pick: int) -> None:
    """Adding a copy of a task seen on both sides is exactly the weighting w_t = 2."""
    ref, cand = data
    pairs, index, _, diff = _pairs(ref, cand)
    both = sorted({s.task for s in ref} & {s.task for s in cand})
    if not both:
        return
    t = both[pick % len(both)]
    w = np.ones((1, len(index)))
    w[0, index[t]] = 2
    expected = _usi(pairs, w)[0]
    dup_ref = ref + [
        replace(s, task=t + "-copy", session_id=s.session_id + "c") for s in ref if s.task == t
    ]
    dup_cand = cand + [
        replace(s, task=t + "-copy", session_id=s.session_id + "c") for s in cand if s.task == t
    ]
    # the copy gets the original's difficulty
    tasks = sorted({s.task for s in dup_ref} | {s.task for s in dup_cand})
    idx2 = {x: i for i, x in enumerate(tasks)}
    d2 = {**diff, t + "-copy": diff.get(t, np.nan)}
    bins = bin_indices(np.array([d2.get(x, np.nan) for x in tasks]))
    side = build_side(dup_cand, idx2)
    pairs2 = [
        build_pair(side, build_side(ss, idx2, single_trial=True), bins=bins, levels=LEVELS)
        for _, ss in sorted(by_batch(dup_ref).items())
    ]
    got = _usi(pairs2, np.ones((1, len(tasks))))[0]
    if np.isnan(expected):
        assert np.isnan(got)
    else:
        assert got == pytest.approx(expected, abs=1e-9)


@SETTINGS
@given(sets_st(), st.integers(0, 2**32 - 1))
def test_bootstrap_interval_contains_point_and_seed_reproduces(
    data: tuple[list, list], seed: int
) -> None:
    ref, cand = data
    pairs, *_ = _pairs(ref, cand)
    labels = [f"b{i}" for i in range(len(pairs))]
    r1 = evaluate_pairs(pairs, labels, n_boot=60, rng=np.random.default_rng(seed))
    r2 = evaluate_pairs(pairs, labels, n_boot=60, rng=np.random.default_rng(seed))
    for q, e in r1.estimates.items():
        assert e == r2.estimates[q]  # same seed, same numbers
        if e.value is not None and e.ci_low is not None and e.ci_high is not None:
            assert e.ci_low <= e.value + 1e-9 <= e.ci_high + 2e-9, q


def test_feature_count_matches_layout() -> None:
    assert len(FEATURE_NAMES) == 19
