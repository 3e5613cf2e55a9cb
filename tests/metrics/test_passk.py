"""pass^k (τ-bench's reliability metric): hand-computed values, properties, and where it shows
(score JSON, CSV, CLI, HTML and Markdown reports). SYNTHETIC sessions throughout."""

from __future__ import annotations

import csv
import io
import json
from itertools import combinations, pairwise
from math import comb

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simgap.metrics import ScoreSettings, score_sets
from simgap.metrics.passk import pass_hat_k, pass_k_rows, task_pass_k, tries
from simgap.report.html import render_html
from simgap.report.markdown import render_markdown
from simgap.report.scorefile import parse_score
from tests.metrics.synth import scored
from tests.metrics.test_leaderboard import SIM_TEXTS, people, simulator

# Three tasks, three tries each. Simulator: A 3/3, B 2/3, C 0/3. Reference: A 1/3, B 3/3, C 2/3.
SIM = {"A": (3, 3), "B": (2, 3), "C": (0, 3)}
REF = {"A": (1, 3), "B": (3, 3), "C": (2, 3)}


def test_task_pass_k_hand_computed() -> None:
    assert task_pass_k(2, 3, 2) == pytest.approx(1 / 3)  # C(2,2)/C(3,2)
    assert task_pass_k(3, 4, 2) == pytest.approx(3 / 6)  # C(3,2)/C(4,2)
    assert task_pass_k(5, 5, 5) == 1.0 and task_pass_k(4, 5, 5) == 0.0
    with pytest.raises(ValueError, match="1 ≤ k ≤ n"):
        task_pass_k(1, 2, 3)


def test_pass_k_rows_hand_computed() -> None:
    rows = pass_k_rows(SIM, REF, n_boot=0, rng=np.random.default_rng(0))
    assert [r.k for r in rows] == [1, 2, 3]
    # simulator: (1 + 2/3 + 0)/3, (1 + 1/3 + 0)/3, (1 + 0 + 0)/3
    assert [r.sim.value for r in rows] == pytest.approx([5 / 9, 4 / 9, 1 / 3])
    # reference: (1/3 + 1 + 2/3)/3, (0 + 1 + 1/3)/3, (0 + 1 + 0)/3
    refs = [r.reference.value for r in rows if r.reference is not None]
    assert refs == pytest.approx([2 / 3, 4 / 9, 1 / 3])
    infl = [r.inflation.value for r in rows if r.inflation is not None]
    assert infl == pytest.approx([5 / 9 - 2 / 3, 0.0, 0.0])
    assert all(r.n_tasks == 3 and r.n_tasks_reference == 3 for r in rows)


def test_tasks_with_too_few_tries_are_left_out_and_counted() -> None:
    cand = {"A": (3, 3), "D": (1, 1)}
    rows = pass_k_rows(cand, {"A": (1, 2)}, n_boot=0, rng=np.random.default_rng(0))
    assert rows[0].sim.value == pytest.approx(1.0) and rows[0].n_tasks == 2
    assert rows[1].n_tasks == 1 and rows[1].tasks_too_few_tries == 1
    # the reference tried A twice: it has pass^1, pass^2 there, none at k = 3
    assert rows[1].reference is not None and rows[1].reference.value == 0.0
    assert rows[2].reference is None and rows[2].inflation is None
    assert pass_hat_k([(1, 1)], 2) is None


def test_tries_counts_sessions_with_an_outcome() -> None:
    ss = [
        scored("A", success=1.0, trial=0),
        scored("A", success=0.0, trial=1),
        scored("A", success=None, trial=2),
        scored("B", success=1.0),
    ]
    assert tries(ss) == {"A": (1, 2), "B": (1, 1)}
    assert tries(ss, ["B"]) == {"B": (1, 1)}


def test_interval_is_task_clustered() -> None:
    """Half the tasks always succeed, half never: resampling tasks gives a wide interval
    (about [0.2, 0.8] for 10 tasks), whatever the number of tries."""
    cand = {f"t{i}": ((3, 3) if i < 5 else (0, 3)) for i in range(10)}
    (r1, *_) = pass_k_rows(cand, None, n_boot=2000, rng=np.random.default_rng(1))
    assert r1.sim.value == 0.5
    assert r1.sim.ci_low is not None and r1.sim.ci_high is not None
    assert r1.sim.ci_low == pytest.approx(0.2, abs=0.11) and r1.sim.ci_high == pytest.approx(
        0.8, abs=0.11
    )


counts = st.integers(1, 6).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@settings(max_examples=200, deadline=None)
@given(st.lists(counts, min_size=1, max_size=8))
def test_properties(tasks: list[tuple[int, int]]) -> None:
    for c, n in tasks:
        vals = [task_pass_k(c, n, k) for k in range(1, n + 1)]
        assert all(0.0 <= v <= 1.0 for v in vals)
        assert all(a >= b for a, b in pairwise(vals))  # monotone in k
        assert vals[0] == pytest.approx(c / n)  # pass^1 = the task's success rate
        # unbiased: the share of k-subsets of the n tries that all succeeded
        outcomes = [1] * c + [0] * (n - c)
        for k in range(1, n + 1):
            subsets = list(combinations(outcomes, k))
            assert vals[k - 1] == pytest.approx(sum(all(s) for s in subsets) / comb(n, k))
    n_min = min(n for _, n in tasks)
    same = [(min(c, n_min), n_min) for c, _ in tasks]  # every task tried n_min times
    p1 = pass_hat_k(same, 1)
    assert p1 == pytest.approx(sum(c for c, _ in same) / (n_min * len(same)))  # = success rate
    seq = [pass_hat_k(same, k) for k in range(1, n_min + 1)]
    assert all(a is not None and b is not None and a >= b for a, b in pairwise(seq))


def test_pass_k_in_json_csv_and_reports() -> None:
    ref = people()  # 3 batches: 3 tries per task
    sim = simulator("synthetic-llm", SIM_TEXTS, trials=3, p_fail_task=2)
    lb = score_sets(ref, [sim], ScoreSettings(n_boot=50, n_permutations=0, seed=2))
    (row,) = lb.rows
    assert [p.k for p in row.pass_k] == [1, 2, 3]
    # the simulator fails task 2 every time, succeeds elsewhere: pass^k = 5/6 for every k
    assert [p.sim.value for p in row.pass_k] == pytest.approx([5 / 6] * 3)
    # people: task t in batch b succeeds iff (t + b) odd -> 1 or 2 successes in 3 tries
    ref_vals = [p.reference.value for p in row.pass_k if p.reference is not None]
    assert ref_vals == pytest.approx([0.5, 1 / 6, 0.0])
    assert row.pass_k[2].inflation is not None and row.pass_k[2].inflation.value == pytest.approx(
        5 / 6
    )
    doc = json.loads(json.dumps(lb.to_json()))
    assert doc["rows"][0]["pass_k"][1]["reference"]["value"] == pytest.approx(1 / 6)
    assert [p["k"] for p in doc["reference"]["pass_k"]] == [1, 2, 3]
    line = list(csv.DictReader(io.StringIO(lb.to_csv())))[1]
    assert float(line["pass3_inflation"]) == pytest.approx(5 / 6, rel=1e-5)
    parsed = parse_score(doc)
    md = render_markdown(parsed)
    assert "### Reliability: pass^k" in md and "+83 pt" in md
    html = render_html(parsed).html
    assert 'id="pass-k"' in html and "pass^3" in html
