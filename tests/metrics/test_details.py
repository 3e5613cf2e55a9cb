"""The score file's optional `details` (what `simgap report` draws), on SYNTHETIC sessions."""

from __future__ import annotations

import json

import numpy as np

from simgap.annotate.features import FEATURE_NAMES
from simgap.metrics import ScoreSettings, score_scored, score_sets
from simgap.metrics.details import (
    HEAD_TURNS,
    MAX_TURN_CHARS,
    MAX_TURNS,
    TAIL_TURNS,
    answer_distribution,
    pick_examples,
    ranked_gap_features,
    session_answers,
    transcript,
)
from simgap.metrics.inputs import LoadedSet, parse_set_spec
from simgap.metrics.leaderboard import ScoredSet
from simgap.metrics.table import Reduction, is_synthetic_session
from simgap.models import Role, ToolCall, Turn, UserKind, load_questionnaire
from tests.metrics.synth import T0, features, feedback, scored, session
from tests.metrics.test_leaderboard import PEOPLE_TEXTS, SIM_TEXTS, people, simulator

FAST = ScoreSettings(n_boot=50, n_permutations=0, seed=1)


def test_synthetic_marking_by_meta_or_ids() -> None:
    s = session("x", ["hi"], user="p1", batch="b1")
    plain = s.model_copy(update={"meta": {}})
    assert is_synthetic_session(s)  # meta.synthetic
    assert not is_synthetic_session(plain)
    assert is_synthetic_session(plain.model_copy(update={"meta": {"standin": True}}))
    assert is_synthetic_session(plain.model_copy(update={"batch": "synthetic-b1"}))
    assert is_synthetic_session(plain.model_copy(update={"user_id": "Synthetic-42"}))
    ls = LoadedSet(parse_set_spec("p.jsonl"), "p", [plain], {}, {})
    assert not ls.synthetic
    ls2 = LoadedSet(
        parse_set_spec("p.jsonl"), "p", [plain.model_copy(update={"batch": "synthetic"})], {}, {}
    )
    assert ls2.synthetic


def test_transcript_hides_tools_and_truncates() -> None:
    s = session(
        "t", [f"turn {i} " + "x" * (MAX_TURN_CHARS + 50 if i == 0 else 3) for i in range(12)]
    )
    turns = list(s.turns)
    turns.insert(
        2,
        Turn(idx=2, role=Role.AGENT, tool_calls=[ToolCall(id="c", name="lookup")], timestamp=T0),
    )
    turns.insert(3, Turn(idx=3, role=Role.TOOL, content='{"secret": 1}', timestamp=T0))
    turns.append(Turn(idx=99, role=Role.USER, content="bye ###STOP###", timestamp=T0))
    t = transcript(s.model_copy(update={"turns": turns}))
    texts = [x["text"] for x in t["turns"]]
    assert all(x["role"] in ("user", "agent") for x in t["turns"])
    assert not any("secret" in x for x in texts)
    assert len(t["turns"]) == HEAD_TURNS + TAIL_TURNS and t["turns_omitted"] > 0
    assert t["turns_omitted"] + len(t["turns"]) == 1 + 12 * 2 + 1  # greeting, pairs, bye
    assert t["omitted_after"] == HEAD_TURNS
    first_user = next(x for x in t["turns"] if x["role"] == "user")
    assert len(first_user["text"]) == MAX_TURN_CHARS and first_user["text"].endswith("…")
    assert t["turns"][-1] == {"role": "user", "text": "bye"}  # control token removed
    short = transcript(session("s", ["hi"]))
    assert short["turns_omitted"] == 0 and len(short["turns"]) == 3 <= MAX_TURNS


def test_answer_distribution_counts_levels() -> None:
    q = load_questionnaire("usi")
    a = session("a", ["hi"], kind=UserKind.HUMAN, user="p")
    b = session("b", ["hi"], kind=UserKind.HUMAN, user="p")
    c = session("c", ["hi"], kind=UserKind.HUMAN, user="p")  # no questionnaire
    fbs = {
        "a": [feedback(a, overall_score=5, human_like="No", reuse="Maybe")],
        "b": [feedback(b, overall_score=5, human_like="Yes", reuse="not an option")],
    }
    ans = session_answers([a, b, c], fbs, q)
    assert set(ans) == {"a", "b"}
    d = answer_distribution(ans, ["a", "b", "c"], q)
    assert d["n_sessions"] == 2
    assert d["counts"]["overall_score"] == [0, 0, 0, 0, 2]
    assert d["counts"]["human_like"] == [1, 0, 1]
    assert d["counts"]["reuse"] == [0, 0, 1, 0, 0] and d["missing"]["reuse"] == 1
    assert d["missing"]["task_success"] == 2


def test_examples_follow_the_largest_gaps() -> None:
    feats = {f: {"reference": 0.1, "candidate": 0.1} for f in FEATURE_NAMES}
    feats["politeness_rate"] = {"reference": 0.1, "candidate": 0.8}  # D1, simulator above
    feats["opening_words"] = {"reference": 12.0, "candidate": 4.0}  # D2, simulator below
    assert ranked_gap_features(feats)[:2] == ["politeness_rate", "opening_words"]
    i_pol = FEATURE_NAMES.index("politeness_rate")
    cand = [
        scored("t1", feats=features(politeness_rate=0.5, opening_words=5), user="sim"),
        scored("t2", feats=features(politeness_rate=1.0, opening_words=2), user="sim"),
    ]
    ref = [
        scored("t1", feats=features(politeness_rate=0.0, opening_words=30), user="p"),
        scored("t2", feats=features(politeness_rate=0.0, opening_words=3), user="p"),
    ]
    picks = pick_examples(
        features=feats, cand_sessions=cand, ref_sessions=ref, universe={"t1", "t2"}, n=2
    )
    # politeness shows most on t2 (1.0 vs 0.0); opening words then on the other task, t1.
    assert [(f, c.task) for f, c, _ in picks] == [
        ("politeness_rate", "t2"),
        ("opening_words", "t1"),
    ]
    assert picks[0][1].features is not None and picks[0][1].features[i_pol] == 1.0
    assert (
        pick_examples(features=feats, cand_sessions=cand, ref_sessions=ref, universe=set(), n=2)
        == []
    )


def test_score_json_carries_details_and_respects_n_examples() -> None:
    ref = people()
    sims = [
        simulator("synthetic-llm", SIM_TEXTS),
        simulator("synthetic-mimic", [t for ts in PEOPLE_TEXTS for t in ts]),
    ]
    doc = score_sets(ref, sims, FAST).to_json()
    d = doc["details"]
    assert doc["schema"] == "simgap.score/1" and doc["settings"]["n_examples"] == 3
    assert doc["reference"]["synthetic_sessions"] == len(ref.sessions)
    assert [f["field"] for f in d["questionnaire"]["fields"]][0] == "task_success"
    assert d["answers"]["reference"]["n_sessions"] == 18
    assert d["answers"]["reference"]["counts"]["human_like"] == [18, 0, 0]
    assert d["answers"]["candidates"]["synthetic-llm"]["counts"]["human_like"] == [0, 0, 12]
    exs = d["examples"]["synthetic-llm"]
    assert 1 <= len(exs) <= 3
    for e in exs:
        assert e["candidate"]["user_id"] == "synthetic-llm"
        assert e["reference"]["user_id"] is None  # participants' ids are not copied
        assert e["task"].startswith("retail/") and e["gap"]
        assert {t["role"] for t in e["candidate"]["turns"]} <= {"user", "agent"}
    # no conversation text at all with n_examples=0
    quiet = score_sets(ref, sims, ScoreSettings(n_boot=0, n_permutations=0, n_examples=0))
    text = json.dumps(quiet.to_json())
    assert quiet.details is not None and quiet.details["examples"] == {}
    assert "cancel my order" not in text and "Thank you so much" not in text


def test_numbers_only_sets_have_no_details() -> None:
    ref = [scored("t", batch=b, user=f"p{b}", success=1.0) for b in ("b1", "b2")]
    cand = [scored("t", user="sim", success=1.0)]
    lb = score_scored(
        ScoredSet("people", "x", [], True, Reduction(sessions=ref)),
        [ScoredSet("sim", "y", ["sim"], True, Reduction(sessions=cand))],
        FAST,
    )
    assert lb.details is None and "details" not in lb.to_json()
    assert np.isfinite(lb.rows[0].usi or np.nan)
