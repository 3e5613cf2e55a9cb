"""Paper mode vs the authors' reference scorer: a differential test on generated data.

The golden files hold the numbers the authors' scorer (sunnweiwei/OdysSim
`agents/tau_usi/usi_metric.py`, run outside this repository by paper_golden/run_reference.py)
computed on three SYNTHETIC data sets (paper_golden/generate.py, seeds 1-3), each under three
task-difficulty maps: pooled over the simulators (the paper's self-pool), the authors' frozen
map (simgap's paper-mode default) and a generated map with values on the bin edges. simgap's
paper mode must give every mean and std of D1–D4, Eval, ECE and USI, for the human ceiling and
the four simulators, to 1e-6 (the issue asks for 0.01).

Where the reference draws a random answer for a simulator's blank survey field, paper mode
draws the same answer (numpy default_rng(42), in the reference's order), so those numbers are
compared directly, not only in expectation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from simgap.metrics.scorer import PAPER, RULES, SIMGAP
from tests.metrics.paper_check import SEEDS, Tally, check_seed, golden
from tests.plugins.counts import report


@pytest.mark.parametrize("seed", SEEDS)
def test_paper_mode_matches_the_reference_scorer(seed: int, tmp_path: Path) -> None:
    tally = Tally()
    check_seed(seed, tmp_path, tally)
    line = f"paper-mode differential, seed {seed}: {tally.line()}"
    report(line)
    assert tally.compared == 3 * 5 * 7 * 2  # 3 maps × (ceiling + 4 simulators) × 7 × mean/std
    assert tally.mismatches == [], "\n".join(tally.mismatches[:20])


def test_the_comparison_fails_on_a_planted_divergence(tmp_path: Path) -> None:
    """A golden number moved by 0.02 (more than the issue's 0.01) is caught, exactly once."""
    gold = golden(1)
    gold["cases"]["frozen"]["simA"]["usi"][0] += 0.02
    tally = Tally()
    check_seed(1, tmp_path, tally, variants=("frozen",), gold=gold)
    line = f"planted +0.02 on simA's USI (must give 1 mismatch): {tally.line()}"
    report(line)
    assert len(tally.mismatches) == 1
    assert "simA usi mean" in tally.mismatches[0]


# `success` (reward > 0 counts as a success) is left out: the tau-usi importer already reads
# the released data that way (the paper's convention), so on this data both values agree; it
# is tested on simgap's own sessions in test_paper_mode.py.
@pytest.mark.parametrize("rule", [r for r in RULES if r != "success"])
def test_each_paper_rule_is_needed(rule: str, tmp_path: Path) -> None:
    """Switching any one rule back to simgap's makes the differential test fail: the data
    exercise every way the two scorers differ (and so the test can fail on each)."""
    planted = PAPER.with_rule(rule, getattr(SIMGAP, rule))
    variants = ("self",) if rule == "min_difficulty_samples" else ("frozen",)
    tally = Tally()
    check_seed(1, tmp_path, tally, scorer=planted, variants=variants)
    line = f"rule {rule} reverted to simgap's (must give mismatches): {tally.line()}"
    report(line)
    assert tally.mismatches, f"reverting {rule} changed nothing the test compares"
