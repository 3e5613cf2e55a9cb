"""Which rules compute the USI: simgap's own (the default) or the authors' reference scorer's.

The paper's metric leaves details to code. simgap's defaults are its own choices (documented
in docs/metrics.md); `simgap score --paper` instead reproduces the authors' public scorer,
sunnweiwei/OdysSim `agents/tau_usi/usi_metric.py` + `utils.py` (which they state gives their
published numbers bit for bit), as checked by a differential test against that scorer's
outputs (tests/metrics/paper_golden/). Every difference between the two is one field here, so
each departure can be switched on alone and its size measured
(`scripts/paper_vs_default.py`, docs/metrics.md "Paper mode").
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any, Literal


@dataclass(frozen=True)
class Scorer:
    """The scoring rules, one field per way the default departs from the reference scorer."""

    name: str = "simgap"
    # User text: simgap strips control tokens anywhere and drops empty turns, for both sides;
    # the paper drops whole meta messages only, by side (annotate/paper_text.py).
    text: Literal["simgap", "paper"] = "simgap"
    # Success of a session: τ² reward = 1 (simgap), reward > 0 (paper).
    success: Literal["reward_1", "reward_positive"] = "reward_1"
    # Survey answers: simgap reads "4" as "4 (Good)" and ignores surveys of sessions the
    # authors excluded; the paper treats an inexact label as blank and still uses the
    # questionnaire of an excluded (keep=false) simulator session.
    survey: Literal["lenient", "exact"] = "lenient"
    # A simulator's feature value: mean over all its sessions (simgap); mean over runs of
    # each run's mean (paper).
    feature_pooling: Literal["sessions", "run_means"] = "sessions"
    # Eval against batch j: every (simulator session, person) pair on the task (simgap); the
    # simulator's j-th run against the j-th batch (paper).
    eval_pairing: Literal["all_pairs", "kth_run"] = "all_pairs"
    # A field the simulator left blank: the expected penalty over the field's levels (simgap);
    # a seeded random answer (paper: numpy default_rng(42), drawn in the scorer's order).
    blank_answers: Literal["expected", "draw"] = "expected"
    # Eval inside USI of batch j: that batch's Eval (simgap); the mean Eval over batches
    # (paper, so the USI's std over batches leaves out Eval's spread).
    eval_in_usi: Literal["per_batch", "batch_mean"] = "per_batch"
    # The ceiling's Eval: batch vs batch answers on the same task (simgap); a second person
    # rating the same batch-1 conversation, mean and std over tasks (paper; n/a without it).
    ceiling_eval: Literal["batch_pairs", "second_rater"] = "batch_pairs"
    # Task difficulty when no --difficulty is given: pooled over the candidates scored, ≥ 1
    # outcome per task (simgap); the paper's frozen map of its 165 tasks (paper).
    difficulty: Literal["pooled", "paper_map"] = "pooled"
    # Outcomes a task needs for a pooled difficulty (paper: 10).
    min_difficulty_samples: int = 1
    # Use the rule-by-rule engine (metrics.paper) even when every rule is simgap's: the test
    # that the two engines agree, and nothing else, sets it.
    force_rules_engine: bool = False

    @property
    def is_default(self) -> bool:
        """True when every rule is simgap's: the fast default engine (metrics.core) applies."""
        return all(
            getattr(self, f.name) == getattr(SIMGAP, f.name)
            for f in fields(self)
            if f.name != "name"
        )

    def with_rule(self, rule: str, value: Any) -> Scorer:
        """A copy with one rule changed (named after what it is now)."""
        return replace(self, **{rule: value, "name": f"{self.name}+{rule}={value}"})

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


SIMGAP = Scorer()
PAPER = Scorer(
    name="paper",
    text="paper",
    success="reward_positive",
    survey="exact",
    feature_pooling="run_means",
    eval_pairing="kth_run",
    blank_answers="draw",
    eval_in_usi="batch_mean",
    ceiling_eval="second_rater",
    difficulty="paper_map",
    min_difficulty_samples=10,
)
SCORERS = {"simgap": SIMGAP, "paper": PAPER}
# The rules in which the two differ, in the order docs/metrics.md lists them.
RULES: tuple[str, ...] = tuple(
    f.name
    for f in fields(Scorer)
    if f.name != "name" and getattr(SIMGAP, f.name) != getattr(PAPER, f.name)
)
DRAW_SEED = 42  # the reference scorer's np.random.default_rng(42) for blank answers
