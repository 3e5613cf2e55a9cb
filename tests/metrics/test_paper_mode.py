"""Paper mode (`simgap score --paper`) rule by rule, on hand-computed SYNTHETIC examples.

The differential test against the authors' scorer is test_paper_golden.py; these pin each
rule to a small example worked by hand (docs/metrics.md, "Paper mode"), and check that the
rule-by-rule engine with simgap's rules is the default engine.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from importlib import resources
from typing import Any

import numpy as np
import pytest

from simgap.annotate.features import FEATURE_NAMES, session_features
from simgap.annotate.paper_text import paper_session_features
from simgap.metrics import ScoreSettings, score_sets
from simgap.metrics.evaluative import field_levels
from simgap.metrics.leaderboard import ScoredSet, score_scored
from simgap.metrics.paper import pair_score
from simgap.metrics.paper_data import paper_difficulty
from simgap.metrics.scorer import PAPER, RULES, SIMGAP
from simgap.metrics.table import Reduction, reduce_sessions
from simgap.models import Feedback, SessionStatus, UserKind, load_questionnaire
from tests.metrics.synth import answers, feedback, scored, session
from tests.metrics.test_leaderboard import PEOPLE_TEXTS, SIM_TEXTS, people, simulator

Q = load_questionnaire("usi")
LEVELS = field_levels(Q)
SHA256 = "b119bd4da4a736b7b46c33af79046ac8eb21cb8a6c836d192d9d528e11e9d88d"


def test_shipped_paper_map_is_the_authors_file_unmodified() -> None:
    data = (resources.files("simgap.metrics") / "data" / "tau_usi_difficulty.json").read_bytes()
    assert hashlib.sha256(data).hexdigest() == SHA256
    doc = json.loads(data)
    assert doc["n_tasks"] == 165 and doc["n_baselines"] == 31
    d = paper_difficulty()
    assert d["airline/0"] == d["airline_0"] == pytest.approx(0.7164179104477612)
    assert len({k for k in d if "/" in k}) == 165
    licence = resources.files("simgap.metrics") / "data" / "LICENSE-OdysSim-Apache-2.0.txt"
    assert "Apache License" in licence.read_text()


def test_rules_differ_and_paper_is_not_default() -> None:
    assert SIMGAP.is_default and not PAPER.is_default
    assert set(RULES) == {
        "text",
        "success",
        "survey",
        "feature_pooling",
        "eval_pairing",
        "blank_answers",
        "eval_in_usi",
        "ceiling_eval",
        "difficulty",
        "min_difficulty_samples",
    }


def _close(a: Any, b: Any, path: str = "") -> None:
    """Recursive equality of two JSON documents, floats to 1e-9."""
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert a == pytest.approx(b, rel=1e-9, abs=1e-9), path
    else:
        assert a == b, path


def test_rule_engine_with_simgap_rules_is_the_default_engine() -> None:
    """Every number (point, bootstrap interval, noise floor, permutation test) agrees."""
    ref = people()
    sims = [  # tasks on one side only both ways: the people did tasks 0-5
        simulator("synthetic-llm", SIM_TEXTS, p_fail_task=2, tasks=range(4)),
        simulator(
            "synthetic-mimic", [t for ts in PEOPLE_TEXTS for t in ts], trials=3, tasks=range(2, 9)
        ),
    ]
    st = ScoreSettings(n_boot=100, n_permutations=60, seed=4)
    default = score_sets(ref, sims, st).to_json()
    forced = replace(SIMGAP, force_rules_engine=True)
    assert not forced.is_default
    rules = score_sets(ref, sims, replace(st, scorer=forced)).to_json()
    for doc in (default, rules):
        doc.pop("created_at")
        doc["settings"].pop("scorer_rules")
    _close(default, rules)


# -- text -------------------------------------------------------------------------------------
TURNS = ["Thanks, bye ###STOP###", "###STOP###", "", "<|think|>x<|/think|>", "\\tau next", "ok"]


def _f(feats: dict[str, float] | None, name: str) -> float:
    assert feats is not None
    return feats[name]


def test_paper_text_rules_by_side_hand_computed() -> None:
    s = session("synthetic-text", TURNS)
    llm = paper_session_features(s, "llm")
    # only the lone ###STOP### goes: words 3, 0, 0, 2, 1 over five turns
    assert _f(llm, "user_words_per_turn") == pytest.approx(6 / 5)
    assert _f(llm, "opening_words") == 3
    assert _f(llm, "info_frontload") == pytest.approx(3 / 6)
    assert _f(llm, "short_msg_rate") == pytest.approx(1.0)
    assert _f(llm, "politeness_rate") == pytest.approx(1 / 5)
    assert _f(llm, "ack_only_rate") == pytest.approx(1 / 5)
    human = paper_session_features(s, "human")
    # the interface command goes, ###STOP### is a word: 3, 1, 0, 0, 1
    assert _f(human, "user_words_per_turn") == pytest.approx(5 / 5)
    assert _f(human, "info_frontload") == pytest.approx(4 / 5)
    default = session_features(s)
    # simgap: control tokens stripped everywhere, empty turns dropped: "Thanks, bye", "ok"
    assert _f(default, "user_words_per_turn") == pytest.approx(3 / 2)
    assert _f(default, "politeness_rate") == pytest.approx(1 / 2)
    assert paper_session_features(session("synthetic-stop", ["###STOP###"]), "llm") is None


# -- success, surveys -------------------------------------------------------------------------
def _reduce(sessions: list[Any], fbs: list[Feedback], scorer: Any, side: Any = "llm") -> Reduction:
    by: dict[str, list[Feedback]] = {}
    for fb in fbs:
        by.setdefault(fb.session_id, []).append(fb)
    return reduce_sessions(sessions, feedback=by, questionnaire=Q, scorer=scorer, side=side)


def test_success_is_reward_above_zero_in_paper_mode() -> None:
    s = session("synthetic-half", ["hi"], reward=0.5)
    assert _reduce([s], [], SIMGAP).sessions[0].success == 0.0
    assert _reduce([s], [], PAPER).sessions[0].success == 1.0


def test_paper_survey_rules() -> None:
    kept = session("synthetic-kept", ["hi"])
    dropped = session("synthetic-dropped", ["hi"], status=SessionStatus.FAILED)
    dropped.meta["keep"] = False
    joined = feedback(kept, overall_score=4)
    joined.meta.update(
        source="tau-usi", survey_file="survey_comparable_x.json", inexact=["overall_score"]
    )
    inline = feedback(dropped, overall_score=2)
    inline.meta.update(source="tau-usi", survey_file="survey_comparable_x.json")
    red = _reduce([kept, dropped], [joined, inline], PAPER)
    # the excluded session's questionnaire still counts for Eval, and only for Eval
    (a, b) = red.sessions
    assert not a.eval_only and b.eval_only and b.features is None and b.success is None
    assert red.eval_only == 1 and red.not_finished == 1
    # "4" is not the scorer's label "4 (Good)": blank under the paper's rules
    assert a.answers is not None and np.isnan(a.answers[6])
    assert _reduce([kept], [joined], SIMGAP).sessions[0].answers[6] == 0.75  # type: ignore[index]
    assert len(_reduce([kept, dropped], [joined, inline], SIMGAP).sessions) == 1
    # a survey inside the runs file is never read by the paper's scorer
    own = feedback(kept, overall_score=5)
    own.meta.update(source="tau-usi")
    assert _reduce([kept], [own], PAPER).sessions[0].answers is None
    assert _reduce([kept], [own], PAPER, side="human").sessions[0].answers is not None


# -- Eval -------------------------------------------------------------------------------------
def test_blank_answer_draw_and_its_expectation() -> None:
    human = answers(reuse="Yes")  # 0.75
    sim = answers()  # blank
    expected = 100 * (1 - np.mean(np.abs(LEVELS[7] - 0.75)))  # |{0,.25,.5,.75,1} − .75| = .35
    assert pair_score(human, sim, LEVELS, None) == pytest.approx(65.0)
    assert expected == pytest.approx(65.0)
    rng = np.random.default_rng(42)
    drawn = pair_score(human, sim, LEVELS, rng)
    pick = np.random.default_rng(42).choice(LEVELS[7])  # the reference's draw
    assert drawn == pytest.approx(100 * (1 - abs(pick - 0.75)))
    rng = np.random.default_rng(7)
    mean = np.mean([pair_score(human, sim, LEVELS, rng) for _ in range(4000)])
    assert mean == pytest.approx(65.0, abs=1.0)  # the draw's expectation is simgap's value
    assert pair_score(answers(), answers(reuse="No"), LEVELS, rng) is None  # nothing answered


def _eval_case(sim_trial1_overall: int) -> tuple[ScoredSet, ScoredSet]:
    """One task, frozen difficulty, equal features and outcomes: only Eval differs.
    People: b1 answers overall_score 5, b2 answers 1. Simulator: run 0 answers 5."""
    t = "retail/1"
    ppl = [
        scored(t, success=1.0, ans=answers(overall_score=5), batch="b1", user="p1"),
        scored(t, success=1.0, ans=answers(overall_score=1), batch="b2", user="p2"),
    ]
    sim = [
        scored(t, success=1.0, ans=answers(overall_score=5), trial=0, user="s"),
        scored(t, success=1.0, ans=answers(overall_score=sim_trial1_overall), trial=1, user="s"),
    ]

    def mk(label: str, ss: list[Any]) -> ScoredSet:
        return ScoredSet(
            label=label,
            spec=label,
            user_ids=[label],
            synthetic=True,
            reduction=Reduction(sessions=ss),
        )

    return mk("synthetic-people", ppl), mk("s", sim)


@pytest.mark.parametrize(
    ("scorer", "trial1", "eval_", "eval_sd", "usi", "usi_sd"),
    [
        # run k vs batch k: both runs agree with their batch
        (PAPER, 1, 100.0, 0.0, 100.0, 0.0),
        # every pair: per batch (100 + 0)/2 = 50
        (SIMGAP, 1, 50.0, 0.0, (400 + 50 + 100) / 6, 0.0),
        # run 1 says 3 (0.5) vs b2's 1 (0): b1 100, b2 50 -> Eval 75 ± 25; the paper puts the
        # mean 75 in both batches' USI (std 0), simgap each batch's own (100 and 91.67)
        (PAPER, 3, 75.0, 25.0, (400 + 75 + 100) / 6, 0.0),
        (replace(PAPER, eval_in_usi="per_batch"), 3, 75.0, 25.0, (400 + 75 + 100) / 6, 25 / 6),
    ],
)
def test_eval_pairing_and_eval_in_usi_hand_computed(
    scorer: Any, trial1: int, eval_: float, eval_sd: float, usi: float, usi_sd: float
) -> None:
    ref, sim = _eval_case(trial1)
    st = ScoreSettings(
        n_boot=0, n_permutations=0, repeats=0, scorer=scorer, difficulty={"retail/1": 0.5}
    )
    (row,) = score_scored(ref, [sim], st).rows
    e, u = row.estimates["Eval"], row.estimates["USI"]
    assert e.value == pytest.approx(eval_) and e.std == pytest.approx(eval_sd)
    assert u.value == pytest.approx(usi) and u.std == pytest.approx(usi_sd)


def _ceiling_case(rater2: bool) -> ScoredSet:
    """Two batches on two tasks; a second person rated b1's conversations (file order 1, 0):
    task 1: person 5 (1.0) vs second rater 4 (0.75) -> 75; task 2: 1 vs 1 -> 100."""
    ss = []
    for t, own, other, order in (("retail/1", 5, 4, 1), ("retail/2", 1, 1, 0)):
        s = scored(t, success=1.0, ans=answers(overall_score=own), batch="b1", user=f"p{t}")
        if rater2:
            s = replace(s, rater2=answers(overall_score=other), rater2_order=order)
        ss += [s, scored(t, success=1.0, ans=answers(overall_score=3), batch="b2", user=f"q{t}")]
    return ScoredSet(
        label="synthetic-people",
        spec="x",
        user_ids=[],
        synthetic=True,
        reduction=Reduction(sessions=ss),
    )


def test_ceiling_eval_is_the_second_rater_in_paper_mode() -> None:
    st = ScoreSettings(
        n_boot=0,
        n_permutations=0,
        repeats=0,
        scorer=PAPER,
        difficulty={"retail/1": 0.5, "retail/2": 0.5},
    )
    ceil = score_scored(_ceiling_case(True), [], st).ceiling
    assert ceil is not None
    e = ceil.estimates["Eval"]
    assert e.value == pytest.approx(87.5) and e.std == pytest.approx(12.5)  # std over tasks
    assert ceil.estimates["USI"].value == pytest.approx((400 + 87.5 + 100) / 6)
    none = score_scored(_ceiling_case(False), [], st).ceiling
    assert none is not None and none.estimates["Eval"].value is None
    assert none.estimates["USI"].value == pytest.approx(100.0)  # five components
    assert any("no second person" in n for n in none.notes)
    # simgap's ceiling compares the batches' answers: |1 − .5| and |0 − .5| -> 50 on both
    dflt = score_scored(_ceiling_case(True), [], replace(st, scorer=SIMGAP)).ceiling
    assert dflt is not None and dflt.estimates["Eval"].value == pytest.approx(50.0)


def test_feature_pooling_run_means_hand_computed() -> None:
    """Run 0 has two sessions (politeness 0 and 0), run 1 one (politeness 0.9): simgap pools
    the three sessions (0.3), the paper averages the runs' means (0.45)."""
    ppl = [
        scored("retail/1", feats=_feats(0.45), success=1.0, batch="b1"),
        scored("retail/2", feats=_feats(0.45), success=1.0, batch="b1"),
    ]
    sim = [
        scored("retail/1", feats=_feats(0.0), success=1.0, trial=0, user="s", sid="a"),
        scored("retail/2", feats=_feats(0.0), success=1.0, trial=0, user="s", sid="b"),
        scored("retail/1", feats=_feats(0.9), success=1.0, trial=1, user="s", sid="c"),
    ]
    ref = ScoredSet(
        label="p", spec="p", user_ids=[], synthetic=True, reduction=Reduction(sessions=ppl)
    )
    cand = ScoredSet(
        label="s", spec="s", user_ids=["s"], synthetic=True, reduction=Reduction(sessions=sim)
    )
    i = FEATURE_NAMES.index("politeness_rate")
    for scorer, value in ((SIMGAP, 0.3), (PAPER, 0.45)):
        st = ScoreSettings(n_boot=0, n_permutations=0, repeats=0, scorer=scorer, difficulty={})
        (row,) = score_scored(ref, [cand], st).rows
        assert row.features["politeness_rate"]["candidate"] == pytest.approx(value)
        d1 = 100 * (6 + (2 * min(0.45, value) / (0.45 + value))) / 7
        assert row.estimates["D1"].value == pytest.approx(d1)
    assert i >= 0


def _feats(polite: float) -> np.ndarray:
    v = np.zeros(len(FEATURE_NAMES))
    v[FEATURE_NAMES.index("politeness_rate")] = polite
    return v


def test_paper_settings_in_the_score_file() -> None:
    st = ScoreSettings(n_boot=0, n_permutations=0, scorer=PAPER)
    doc = st.to_json()
    assert doc["scorer"] == "paper" and doc["min_difficulty_samples"] == 10
    assert doc["difficulty_source"] == "paper_map" and doc["scorer_rules"]["text"] == "paper"
    assert ScoreSettings().to_json()["min_difficulty_samples"] == 1
    assert UserKind.HUMAN  # (imported for the helpers' signatures)
