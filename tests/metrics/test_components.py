"""Every USI component against hand-computed values on tiny SYNTHETIC fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from simgap.metrics.calibration import (
    DifficultyError,
    bin_index,
    bin_indices,
    ece,
    load_difficulty,
    pooled_difficulty,
)
from simgap.metrics.core import build_pair, build_side, scores
from simgap.metrics.dice import dice, dice_scalar
from simgap.metrics.evaluative import field_levels, pair_agreement, task_agreement
from simgap.metrics.naive import naive_usi
from simgap.models import load_questionnaire
from tests.metrics.synth import answers, by_batch, features, scored

LEVELS = field_levels(load_questionnaire("usi"))


# -- Dice ------------------------------------------------------------------------------------
def test_dice_hand_values() -> None:
    assert dice_scalar(0.3, 0.6) == pytest.approx(2 * 0.3 / 0.9)  # 0.6667
    assert dice_scalar(0.0, 0.0) == 1.0  # both absent: identical
    assert dice_scalar(0.0, 0.5) == 0.0
    assert dice_scalar(0.29, 0.01) == pytest.approx(0.02 / 0.30)  # short turns, paper's example
    np.testing.assert_allclose(dice([0.3, 0.0, 1.0], [0.6, 0.0, 1.0]), [2 / 3, 1.0, 1.0])
    assert np.isnan(dice([np.nan], [1.0])[0])


# -- calibration -----------------------------------------------------------------------------
def test_bins_follow_the_paper_edges() -> None:
    assert [bin_index(x) for x in (0.0, 0.19, 0.2, 0.39, 0.4, 0.5, 0.6, 0.79, 0.8, 1.0)] == [
        0,
        0,
        1,
        1,
        2,
        2,
        3,
        3,
        4,
        4,
    ]
    np.testing.assert_array_equal(bin_indices(np.array([0.2, np.nan, 0.95])), [1, -1, 4])


def test_ece_hand_computed() -> None:
    # tasks a, b in bin 2 (difficulty .5), c in bin 4 (difficulty .9)
    sim = {"a": 1.0, "b": 0.0, "c": 1.0}
    hum = {"a": 1.0, "b": 1.0, "c": 0.0}
    diff = {"a": 0.5, "b": 0.5, "c": 0.9}
    # bin 2: s = .5, h = 1.0 -> 2/3 * .5 ; bin 4: s = 1, h = 0 -> 1/3 * 1 ; ECE = 1/3 + 1/3
    assert ece(sim, hum, diff) == pytest.approx(2 / 3)
    assert ece({"x": 1.0}, {"x": 1.0}, {}) is None


def test_pooled_difficulty_and_min_samples() -> None:
    d = pooled_difficulty([("a", 1.0), ("a", 0.0), ("a", 1.0), ("b", 1.0)], min_samples=2)
    assert d == {"a": pytest.approx(2 / 3)}


def test_load_difficulty_formats_and_errors(tmp_path: Path) -> None:
    p = tmp_path / "d.json"
    p.write_text(json.dumps({"source": "x", "difficulty": {"airline_12": 0.25}}))
    assert load_difficulty(p)["airline/12"] == 0.25
    p.write_text(json.dumps({"retail/3": 0.5}))
    assert load_difficulty(p) == {"retail/3": 0.5}
    p.write_text(json.dumps({"retail/3": 1.5}))
    with pytest.raises(DifficultyError, match="'retail/3'"):
        load_difficulty(p)
    p.write_text("{oops")
    with pytest.raises(DifficultyError, match=r"d\.json:1: not valid JSON"):
        load_difficulty(p)


# -- Eval ------------------------------------------------------------------------------------
def test_eval_hand_computed() -> None:
    # overall_score 5 vs 4 on a 1..5 scale: |1.0 - 0.75| = .25 -> 75
    assert pair_agreement(answers(overall_score=5), answers(overall_score=4), LEVELS) == 75.0
    # question_amount_preference: "Too many" and "Too few" are both 0, "About right" 1
    h = answers(question_amount_preference="Too few")
    assert pair_agreement(h, answers(question_amount_preference="Too many"), LEVELS) == 100.0
    assert pair_agreement(h, answers(question_amount_preference="About right"), LEVELS) == 0.0
    # simulator left human_like blank; human said "No" (0); levels {0, .5, 1}:
    # expected |0 - U| = (0 + .5 + 1) / 3 = .5 -> 50
    assert pair_agreement(answers(human_like="No"), answers(), LEVELS) == pytest.approx(50.0)
    # fields the human left blank are not compared
    assert np.isnan(pair_agreement(answers(), answers(human_like="No"), LEVELS))
    # two simulator sessions on one task: mean over pairs (100 + 75) / 2
    sims = [answers(overall_score=5), answers(overall_score=4)]
    assert task_agreement(sims, [answers(overall_score=5)], LEVELS) == pytest.approx(87.5)


# -- the whole USI on a tiny fixture ---------------------------------------------------------
def tiny() -> tuple[list, list]:
    """Two tasks; one person and one simulator session each."""
    ref = [
        scored(
            "t1",
            feats=features(politeness_rate=0.2),
            success=1.0,
            ans=answers(overall_score=5),
            user="synthetic-person",
        ),
        scored(
            "t2",
            feats=features(politeness_rate=0.4),
            success=0.0,
            ans=answers(human_like="No"),
            user="synthetic-person",
        ),
    ]
    cand = [
        scored(
            "t1",
            feats=features(politeness_rate=0.6),
            success=1.0,
            ans=answers(overall_score=4),
            user="synthetic-sim",
        ),
        scored(
            "t2",
            feats=features(politeness_rate=0.6),
            success=1.0,
            ans=answers(),
            user="synthetic-sim",
        ),
    ]
    return ref, cand


def test_usi_hand_computed_on_tiny_fixture() -> None:
    ref, cand = tiny()
    index = {"t1": 0, "t2": 1}
    # difficulty pooled over the simulator: t1 = 1.0, t2 = 1.0 -> both in bin 4
    bins = bin_indices(np.array([1.0, 1.0]))
    pair = build_pair(
        build_side(cand, index),
        build_side(ref, index, single_trial=True),
        bins=bins,
        levels=LEVELS,
    )
    s = scores(np.ones((1, 2)) @ pair.matrix, pair.layout)
    # D1: politeness pooled h = (.2+.4)/2 = .3, m = .6 -> Dice 2*.3/.9 = 2/3; the other six
    # D1 features are 0 on both sides -> 1.  D1 = 100 * (2/3 + 6) / 7
    d1 = 100 * (2 / 3 + 6) / 7
    assert s.components["D1"][0] == pytest.approx(d1)
    for d in ("D2", "D3", "D4"):
        assert s.components[d][0] == pytest.approx(100.0)
    # bin 4 holds both tasks: s = 1.0, h = .5 -> ECE = .5, Cal = 50
    assert s.ece[0] == pytest.approx(0.5)
    assert s.components["Cal"][0] == pytest.approx(50.0)
    # Eval: t1 75 (5 vs 4), t2 50 (blank vs "No") -> 62.5
    assert s.components["Eval"][0] == pytest.approx(62.5)
    usi = (d1 + 300 + 62.5 + 50) / 6
    assert s.usi[0] == pytest.approx(usi)  # 84.62...
    assert (s.sr_cand[0], s.sr_ref[0]) == (1.0, 0.5)
    # the loop-by-loop oracle agrees
    nv = naive_usi(cand, by_batch(ref), difficulty={"t1": 1.0, "t2": 1.0}, levels=LEVELS)
    assert nv["USI"] == pytest.approx(usi)


def test_usi_without_questionnaires_averages_five_components() -> None:
    ref, cand = tiny()
    ref = [r.__class__(**{**r.__dict__, "answers": None}) for r in ref]
    index = {"t1": 0, "t2": 1}
    pair = build_pair(
        build_side(cand, index),
        build_side(ref, index, single_trial=True),
        bins=bin_indices(np.array([1.0, 1.0])),
        levels=LEVELS,
    )
    s = scores(np.ones((1, 2)) @ pair.matrix, pair.layout)
    assert np.isnan(s.components["Eval"][0])
    assert s.usi[0] == pytest.approx((100 * (2 / 3 + 6) / 7 + 300 + 50) / 5)


def test_ece_is_per_trial_then_averaged() -> None:
    # one task t1 (bin 4); person succeeded; simulator trial 0 succeeded, trial 1 failed.
    ref = [scored("t1", success=1.0)]
    cand = [scored("t1", success=1.0, trial=0), scored("t1", success=0.0, trial=1)]
    index = {"t1": 0}
    pair = build_pair(
        build_side(cand, index),
        build_side(ref, index, single_trial=True),
        bins=np.array([4]),
        levels=LEVELS,
    )
    s = scores(np.ones((1, 1)) @ pair.matrix, pair.layout)
    # trial 0: |1 - 1| = 0 ; trial 1: |0 - 1| = 1 ; mean 0.5
    assert s.ece[0] == pytest.approx(0.5)
    # Add t2 (bin 4), run only in trial 0 (failure), person failed too.
    ref.append(scored("t2", success=0.0))
    cand.append(scored("t2", success=0.0, trial=0))
    index = {"t1": 0, "t2": 1}
    pair = build_pair(
        build_side(cand, index),
        build_side(ref, index, single_trial=True),
        bins=np.array([4, 4]),
        levels=LEVELS,
    )
    s = scores(np.ones((1, 2)) @ pair.matrix, pair.layout)
    # trial 0 over {t1, t2}: s = .5, h = .5 -> 0 ; trial 1 over {t1}: s = 0, h = 1 -> 1 ;
    # mean 0.5. (Pooling the trials first would give s = (.5 + 0)/2 = .25 vs h = .5 -> .25.)
    assert s.ece[0] == pytest.approx(0.5)


# -- intervals ---------------------------------------------------------------------------------
def test_estimate_percentiles_and_extension() -> None:
    from simgap.metrics.estimate import make_estimate

    boot = np.arange(1.0, 102.0)  # 1..101: 2.5th percentile 3.5, 97.5th 98.5 (linear)
    e = make_estimate([50.0, 52.0], ["b1", "b2"], boot, 0.95)
    assert (e.value, e.std) == (51.0, 1.0)  # mean and population std over batches
    assert e.ci_low == pytest.approx(3.5) and e.ci_high == pytest.approx(98.5)
    assert e.ci_extended is False
    assert e.per_batch == {"b1": 50.0, "b2": 52.0} and e.n_boot == 101
    # a point estimate above every resample (Dice's downward resampling bias) widens the interval
    hi = make_estimate([100.0], ["b1"], np.array([90.0, 95.0, 97.0]), 0.95)
    assert hi.ci_extended and hi.ci_high == 100.0 and hi.std is None
    # not computable: nothing invented
    none = make_estimate([float("nan")], ["b1"], np.array([np.nan]), 0.95)
    assert (none.value, none.ci_low, none.ci_high) == (None, None, None)
