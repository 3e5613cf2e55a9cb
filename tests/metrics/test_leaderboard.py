"""score_sets end to end on SYNTHETIC sessions: ceiling, exclusions, notes, permutation test."""

from __future__ import annotations

import json

import numpy as np
import pytest

from simgap.metrics import SCHEMA, SYNTHETIC_CEILING_LABEL, ScoreSettings, score_sets
from simgap.metrics.calibration import bin_indices
from simgap.metrics.ceiling import random_split
from simgap.metrics.core import build_side
from simgap.metrics.evaluative import field_levels
from simgap.metrics.inputs import LoadedSet, parse_set_spec
from simgap.metrics.permutation import paired_permutation_test
from simgap.models import Feedback, Session, UserKind, load_questionnaire
from tests.metrics.synth import feedback, scored, session

PEOPLE_TEXTS = [
    ["hi i need to cancel my order", "its #W1234567", "ok"],
    ["cancel order pls", "why cant you??", "ugh fine"],
    ["hello, can you help me return a lamp", "W7654321", "thanks"],
]
SIM_TEXTS = [
    "Hello! I would like to cancel my order, please. My order ID is #W1234567.",
    "Thank you so much for your help, I really appreciate it!",
]


def people(
    n_tasks: int = 6, batches: tuple[str, ...] = ("b1", "b2", "b3"), answers: bool = True
) -> LoadedSet:
    sessions: list[Session] = []
    fbs: dict[str, list[Feedback]] = {}
    for b, batch in enumerate(batches):
        for t in range(n_tasks):
            s = session(
                f"synthetic-person-{batch}-{t}",
                PEOPLE_TEXTS[(t + b) % 3],
                task=str(t),
                kind=UserKind.HUMAN,
                user=f"synthetic-person-{batch}-{t}",
                batch=batch,
                reward=float((t + b) % 2),
            )
            sessions.append(s)
            if answers:
                fbs[s.session_id] = [feedback(s, overall_score=1 + (t + b) % 5, human_like="No")]
    return LoadedSet(
        parse_set_spec("synthetic-people.jsonl"), "synthetic people", sessions, fbs, {}
    )


def simulator(
    name: str, texts: list[str], *, tasks: range = range(6), trials: int = 2, p_fail_task: int = 99
) -> LoadedSet:
    sessions = [
        session(
            f"synthetic-{name}-{t}-{k}",
            texts,
            task=str(t),
            user=name,
            trial=k,
            reward=0.0 if t == p_fail_task else 1.0,
        )
        for t in tasks
        for k in range(trials)
    ]
    fbs = {s.session_id: [feedback(s, overall_score=5, human_like="Yes")] for s in sessions}
    return LoadedSet(parse_set_spec(f"{name}.jsonl"), name, sessions, fbs, {})


FAST = ScoreSettings(n_boot=200, n_permutations=200, seed=3)


def test_leaderboard_rows_ceiling_and_json_schema() -> None:
    ref = people()
    llmish = simulator("synthetic-llm", SIM_TEXTS)
    humanish = simulator("synthetic-mimic", [t for ts in PEOPLE_TEXTS for t in ts])
    lb = score_sets(ref, [llmish, humanish], FAST)
    # the reference is synthetic: its self-agreement is never labelled as people's
    assert lb.ceiling is not None and lb.ceiling.label == SYNTHETIC_CEILING_LABEL
    assert "people" not in lb.ceiling.label
    assert lb.ceiling.notes[0].startswith("ceiling from 3 pair(s) of disjoint batches")
    assert list(lb.ceiling.estimates["USI"].per_batch) == ["b1~b2", "b1~b3", "b2~b3"]
    # the simulator that talks like the (synthetic) people ranks first
    assert [r.label for r in lb.rows] == ["synthetic-mimic", "synthetic-llm"]
    top, low = lb.rows
    assert top.usi is not None and low.usi is not None and top.usi > low.usi
    assert low.estimates["USI"].std is not None  # three batches -> mean ± std
    assert set(low.estimates["USI"].per_batch) == {"b1", "b2", "b3"}
    # success-rate inflation: the simulators always succeed, people half the time
    assert low.estimates["SR_sim"].value == 1.0
    assert low.estimates["SR_inflation"].value == pytest.approx(1.0 - low.estimates["SR_ref"].value)
    assert any(g.startswith("D1 conversation style") for g in low.gaps)
    # comparisons: one pairwise test
    (cmp,) = lb.comparisons
    assert {cmp.a, cmp.b} == {"synthetic-llm", "synthetic-mimic"}
    assert cmp.p_value is not None and 0 < cmp.p_value <= 1
    doc = json.loads(json.dumps(lb.to_json()))
    assert doc["schema"] == SCHEMA
    assert doc["components"] == ["D1", "D2", "D3", "D4", "Eval", "Cal"]
    row = doc["rows"][0]
    for key in (
        "label",
        "usi",
        "components",
        "ece",
        "sr_sim",
        "sr_human",
        "sr_inflation",
        "n_sessions",
        "n_tasks",
        "excluded",
        "features",
        "gaps",
        "notes",
        "synthetic",
    ):
        assert key in row
    assert set(row["usi"]) >= {"value", "std", "ci_low", "ci_high", "per_batch"}
    assert doc["reference"]["synthetic"] is True
    assert "SYNTHETIC" in doc["notes"][0]
    csv_lines = lb.to_csv().splitlines()
    assert csv_lines[0].startswith("rank,label,kind,synthetic,n_sessions,n_tasks,USI,USI_std")
    assert len(csv_lines) == 4  # header, ceiling, two candidates


def test_tasks_on_one_side_only_are_reported_and_excluded() -> None:
    ref = people(n_tasks=6)
    base = score_sets(
        ref,
        [simulator("synthetic-a", SIM_TEXTS, tasks=range(4))],
        ScoreSettings(n_boot=0, n_permutations=0),
    ).rows[0]
    assert base.excluded["reference_only_tasks"] == 2
    assert base.n_tasks == 4 and base.n_sessions == 8
    # candidate sessions on tasks the people never did: counted, and the score is unchanged
    more = simulator("synthetic-a", SIM_TEXTS, tasks=range(4))
    more.sessions += simulator("synthetic-a", SIM_TEXTS, tasks=range(10, 13)).sessions
    row = score_sets(ref, [more], ScoreSettings(n_boot=0, n_permutations=0)).rows[0]
    assert row.excluded["candidate_only_tasks"] == 3
    assert row.n_tasks == 4
    assert row.usi == pytest.approx(base.usi)


def test_missing_questionnaires_and_single_batch_are_said_not_invented() -> None:
    ref = people(batches=("b1",), answers=False)
    lb = score_sets(ref, [simulator("synthetic-a", SIM_TEXTS)], FAST)
    row = lb.rows[0]
    assert row.estimates["Eval"].value is None
    assert any("Eval n/a" in n for n in row.notes)
    assert any("no questionnaire answers" in n for n in lb.notes)
    assert row.estimates["USI"].std is None  # one batch: no spread over batches
    assert any("only one reference batch" in n for n in lb.notes)
    assert lb.ceiling is not None
    assert "random half-splits" in lb.ceiling.notes[0]
    # six tasks with one person each cannot be split: the ceiling has no task
    assert lb.ceiling.n_tasks == 0


def test_single_batch_with_two_people_per_task_gets_a_split_ceiling() -> None:
    ref = people(batches=("b1", "b2"))
    for s in ref.sessions:
        s.batch = "only"
    lb = score_sets(ref, [simulator("synthetic-a", SIM_TEXTS)], FAST)
    assert lb.ceiling is not None and lb.ceiling.n_tasks == 6
    assert list(lb.ceiling.estimates["USI"].per_batch) == ["split1", "split2", "split3"]


def test_same_seed_same_numbers_other_seed_other_interval() -> None:
    ref = people()
    cands = [simulator("synthetic-a", SIM_TEXTS), simulator("synthetic-b", SIM_TEXTS[:1])]
    a = score_sets(ref, cands, FAST).to_json()
    b = score_sets(ref, cands, FAST).to_json()
    c = score_sets(ref, cands, ScoreSettings(n_boot=200, n_permutations=200, seed=4)).to_json()
    for d in (a, b, c):
        d.pop("created_at")
        d["settings"].pop("seed")
    assert a == b
    assert a["rows"][0]["usi"]["value"] == c["rows"][0]["usi"]["value"]
    assert a["rows"][0]["usi"]["ci_low"] != c["rows"][0]["usi"]["ci_low"]


def test_random_split_is_seeded_and_disjoint() -> None:
    ss = [scored("t1", sid=f"s{i}") for i in range(5)] + [scored("t2", sid="x")]
    a1, b1 = random_split(ss, np.random.default_rng(1))
    a2, _ = random_split(ss, np.random.default_rng(1))
    assert [s.session_id for s in a1] == [s.session_id for s in a2]
    assert {s.session_id for s in a1}.isdisjoint({s.session_id for s in b1})
    assert len(a1) + len(b1) == 6
    assert [s.task for s in b1].count("t2") == 0  # a single session goes to one half


def test_permutation_test_identical_vs_different() -> None:
    levels = field_levels(load_questionnaire("usi"))
    tasks = [f"t{i}" for i in range(12)]
    index = {t: i for i, t in enumerate(tasks)}
    bins = bin_indices(np.full(len(tasks), 0.5))
    rng = np.random.default_rng(0)
    feats = rng.gamma(2.0, 1.0, size=(len(tasks), 19))
    ref = [scored(t, feats=feats[i], success=float(i % 2)) for i, t in enumerate(tasks)]
    same = [scored(t, feats=feats[i], success=float(i % 2), user="a") for i, t in enumerate(tasks)]
    same2 = [scored(t, feats=feats[i], success=float(i % 2), user="b") for i, t in enumerate(tasks)]
    far = [scored(t, feats=feats[i] * 4 + 1, success=1.0, user="c") for i, t in enumerate(tasks)]
    refs = {"b1": build_side(ref, index, single_trial=True)}
    tie = paired_permutation_test(
        ("a", build_side(same, index)),
        ("b", build_side(same2, index)),
        refs,
        bins=bins,
        levels=levels,
        n_permutations=300,
        rng=np.random.default_rng(1),
    )
    assert tie.diff == pytest.approx(0.0) and tie.p_value == pytest.approx(1.0)
    gap = paired_permutation_test(
        ("a", build_side(same, index)),
        ("c", build_side(far, index)),
        refs,
        bins=bins,
        levels=levels,
        n_permutations=300,
        rng=np.random.default_rng(1),
    )
    assert gap.diff is not None and gap.diff > 20
    # no permutation of 12 tasks reaches the observed gap except the identity-like ones
    assert gap.p_value is not None and gap.p_value < 0.05
    assert gap.n_tasks == 12 and gap.n_permutations == 300
    again = paired_permutation_test(
        ("a", build_side(same, index)),
        ("c", build_side(far, index)),
        refs,
        bins=bins,
        levels=levels,
        n_permutations=300,
        rng=np.random.default_rng(1),
    )
    assert again == gap
