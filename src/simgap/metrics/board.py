"""What `simgap score` produces: its settings, the leaderboard rows, and their JSON and CSV.

The JSON (`Leaderboard.to_json`, schema `simgap.score/1`) is documented in docs/metrics.md §9
and kept stable: fields are only ever added. The scoring itself is in `metrics.leaderboard`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from simgap import __version__
from simgap.annotate.features import USI_FEATURES_VERSION
from simgap.metrics.calibration import PAPER_MIN_SAMPLES
from simgap.metrics.core import COMPONENTS
from simgap.metrics.estimate import QUANTITIES, RESAMPLING, Estimate
from simgap.metrics.noise import NoiseFloor
from simgap.metrics.passk import PassK
from simgap.metrics.permutation import Comparison
from simgap.metrics.scorer import SIMGAP, Scorer

SCHEMA = "simgap.score/1"
CEILING_LABEL = "people vs people (ceiling)"
# A synthetic reference's self-agreement is no human figure and is never labelled as one.
SYNTHETIC_CEILING_LABEL = "reference vs reference (ceiling, SYNTHETIC)"
# A reference of LLM simulators (a τ² results file): its self-agreement is no human figure.
SIMULATOR_CEILING_LABEL = "reference vs reference (ceiling, simulator)"
RESAMPLING_DETAIL = (
    "tasks drawn with replacement, each with all its sessions on both sides and in every "
    "reference batch (sessions are nested in tasks)"
)
EVIDENCE_PER_REASON = 3  # failure labels with their evidence written per row and reason


@dataclass
class ScoreSettings:
    n_boot: int = 1000
    seed: int = 0
    ci_level: float = 0.95
    n_permutations: int = 1000
    ceiling_splits: int = 3
    # Outcomes a task needs for a difficulty pooled from the data (None: the scorer's rule,
    # 1 for simgap's, 10 for the paper's).
    min_difficulty_samples: int | None = None
    # A frozen map (task -> success rate). None: the scorer's rule (simgap: pooled from the
    # candidates; paper: the authors' frozen map of their 165 tasks).
    difficulty: Mapping[str, float] | None = None
    difficulty_source: str = "data"
    # Example conversations per candidate written to the score file's `details` (0: none, so
    # no conversation text leaves the store).
    n_examples: int = 3
    # Repeats per simulator for the noise floor: its first `repeats` trials (None: all; 0: no
    # noise floor). Significance level of the "distinguishable" verdict.
    repeats: int | None = None
    alpha: float = 0.05
    # The rules (metrics.scorer): simgap's own (default) or the authors' reference scorer's.
    scorer: Scorer = SIMGAP

    @property
    def min_samples(self) -> int:
        """Outcomes a task needs for a pooled difficulty, under these settings."""
        if self.min_difficulty_samples is not None:
            return self.min_difficulty_samples
        return self.scorer.min_difficulty_samples

    def to_json(self) -> dict[str, Any]:
        return {
            "n_boot": self.n_boot,
            "seed": self.seed,
            "ci_level": self.ci_level,
            "n_permutations": self.n_permutations,
            "ceiling_splits": self.ceiling_splits,
            "min_difficulty_samples": self.min_samples,
            "difficulty_source": (
                "paper_map"
                if self.difficulty is None and self.scorer.difficulty == "paper_map"
                else self.difficulty_source
            ),
            "paper_min_difficulty_samples": PAPER_MIN_SAMPLES,
            "n_examples": self.n_examples,
            "resampling": RESAMPLING,
            "resampling_detail": RESAMPLING_DETAIL,
            "repeats": self.repeats,
            "alpha": self.alpha,
            "scorer": self.scorer.name,
            "scorer_rules": self.scorer.to_json(),
        }


@dataclass
class Row:
    label: str
    kind: str  # "ceiling" | "candidate"
    spec: str
    user_ids: list[str]
    n_sessions: int
    n_tasks: int
    estimates: dict[str, Estimate]
    excluded: dict[str, int]
    features: dict[str, dict[str, float | None]]
    gaps: list[str]
    notes: list[str] = field(default_factory=list)
    synthetic: bool = False
    features_source: dict[str, int] = field(default_factory=dict)
    tasks: list[str] = field(default_factory=list)  # the compared tasks (not serialised)
    failures: dict[str, Any] = field(default_factory=dict)  # counts and evidence (no estimates)
    noise_floor: NoiseFloor | None = None
    # Simulators this row cannot be told apart from (paired test + noise floor): label, ΔUSI
    # (this row minus the other), p-value, noise floor.
    not_distinguishable: list[dict[str, Any]] = field(default_factory=list)
    # τ-bench's pass^k for k = 1.. (metrics.passk); empty for the ceiling.
    pass_k: list[PassK] = field(default_factory=list)
    # Sessions read for this row by category (models.SessionCategory): the success rate is
    # over completed + model_failure; infra_error and running are counted, not scored.
    categories: dict[str, int] = field(default_factory=dict)
    agents: list[str] = field(default_factory=list)  # the agent(s) its sessions ran against

    @property
    def usi(self) -> float | None:
        return self.estimates["USI"].value

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "kind": self.kind,
            "spec": self.spec,
            "user_ids": self.user_ids,
            "agents": self.agents,
            "synthetic": self.synthetic,
            "n_sessions": self.n_sessions,
            "n_tasks": self.n_tasks,
            "usi": self.estimates["USI"].to_json(),
            "components": {c: self.estimates[c].to_json() for c in COMPONENTS},
            "ece": self.estimates["ECE"].to_json(),
            "sr_sim": self.estimates["SR_sim"].to_json(),
            "sr_human": self.estimates["SR_ref"].to_json(),
            "sr_inflation": self.estimates["SR_inflation"].to_json(),
            "failures": {
                **self.failures,
                "user_caused_share": self.estimates["Fail_user_share"].to_json(),
                "environment_share": self.estimates["Fail_env_share"].to_json(),
                "agent_share": self.estimates["Fail_agent_share"].to_json(),
                "sr_excl_user_caused": self.estimates["SR_excl_user"].to_json(),
                "reference_user_caused_share": self.estimates["Fail_user_share_ref"].to_json(),
            },
            "noise_floor": None if self.noise_floor is None else self.noise_floor.to_json(),
            "not_distinguishable": self.not_distinguishable,
            "pass_k": [p.to_json() for p in self.pass_k],
            "excluded": self.excluded,
            "sessions_by_category": self.categories,
            "features_source": self.features_source,
            "features": self.features,
            "gaps": self.gaps,
            "notes": self.notes,
        }


@dataclass
class Leaderboard:
    reference: dict[str, Any]
    settings: ScoreSettings
    ceiling: Row | None
    rows: list[Row]  # candidates, best USI first
    comparisons: list[Comparison]
    notes: list[str]
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    # What the report needs beyond the numbers (docs/metrics.md §9); None when the sets were
    # given already reduced to numbers (`score_scored` without sessions).
    details: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "simgap_version": __version__,
            "created_at": self.created_at.isoformat(),
            "usi_features_version": USI_FEATURES_VERSION,
            "reference": self.reference,
            "settings": self.settings.to_json(),
            "components": list(COMPONENTS),
            "ceiling": None if self.ceiling is None else self.ceiling.to_json(),
            "rows": [r.to_json() for r in self.rows],
            "comparisons": [c.to_json() for c in self.comparisons],
            "notes": self.notes,
            **({} if self.details is None else {"details": self.details}),
        }

    def to_csv(self) -> str:
        """One line per row (ceiling first): values, interval bounds and counts."""
        buf = io.StringIO()
        cols = ["rank", "label", "kind", "synthetic", "n_sessions", "n_tasks"]
        for q in QUANTITIES:
            cols += [q, f"{q}_std", f"{q}_ci_low", f"{q}_ci_high"]
        cols += ["n_failed", "n_repeats", "USI_noise_floor", "SR_sim_noise_floor"]
        rows = ([self.ceiling] if self.ceiling else []) + self.rows
        k_max = max((p.k for r in rows for p in r.pass_k), default=0)
        for k in range(1, k_max + 1):
            cols += [f"pass{k}_sim", f"pass{k}_ref", f"pass{k}_inflation", f"pass{k}_n_tasks"]
        cols += ["candidate_only_tasks", "reference_only_tasks", "notes"]
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        for rank, r in enumerate(rows):
            line: dict[str, Any] = {
                "rank": "" if r.kind == "ceiling" else rank if self.ceiling else rank + 1,
                "label": r.label,
                "kind": r.kind,
                "synthetic": r.synthetic,
                "n_sessions": r.n_sessions,
                "n_tasks": r.n_tasks,
                "candidate_only_tasks": r.excluded.get("candidate_only_tasks", 0),
                "reference_only_tasks": r.excluded.get("reference_only_tasks", 0),
                "notes": " | ".join(r.notes),
                "n_failed": r.failures.get("n_failed", ""),
                "n_repeats": "" if r.noise_floor is None else r.noise_floor.n_repeats,
                "USI_noise_floor": _csv(
                    None if r.noise_floor is None else r.noise_floor.spread["USI"]
                ),
                "SR_sim_noise_floor": _csv(
                    None if r.noise_floor is None else r.noise_floor.spread["SR_sim"]
                ),
            }
            for pk in r.pass_k:
                line[f"pass{pk.k}_sim"] = _csv(pk.sim.value)
                line[f"pass{pk.k}_ref"] = _csv(None if pk.reference is None else pk.reference.value)
                line[f"pass{pk.k}_inflation"] = _csv(
                    None if pk.inflation is None else pk.inflation.value
                )
                line[f"pass{pk.k}_n_tasks"] = pk.n_tasks
            for q, e in r.estimates.items():
                line[q] = _csv(e.value)
                line[f"{q}_std"] = _csv(e.std)
                line[f"{q}_ci_low"] = _csv(e.ci_low)
                line[f"{q}_ci_high"] = _csv(e.ci_high)
            w.writerow(line)
        return buf.getvalue()


def _csv(x: float | None) -> str:
    return "" if x is None else f"{x:.6g}"
