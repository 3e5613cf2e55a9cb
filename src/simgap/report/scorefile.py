"""Read and check the `simgap.score/1` JSON that `simgap score` writes (docs/metrics.md §9).

The report is built from this file alone, so it is validated up front: a missing or malformed
field becomes one line naming the file and the field (`score.json: rows[1].usi.value: Input
should be a valid number`) instead of a traceback halfway through drawing. Unknown fields are
ignored, so files from newer simgap versions (the schema only ever adds fields) still render,
and files from before the optional `details` section render without the parts that need it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simgap.errors import ConfigError

SCHEMA_PREFIX = "simgap.score/"


class ScoreFileError(ConfigError):
    """The score file is missing, not JSON, or lacks a field the report needs."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Est(_Model):
    value: float | None = None
    std: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    ci_extended: bool = False
    n_boot: int = 0
    per_batch: dict[str, float | None] = Field(default_factory=dict)


class FeatureValues(_Model):
    candidate: float | None = None
    reference: float | None = None
    dice: float | None = None


class FailureEvidence(_Model):
    session_id: str = ""
    cause: str = ""
    reason: str = ""
    labeller: str = ""
    evidence_turn: int | None = None
    evidence: str = ""


class FailuresDoc(_Model):
    """Failure attribution of a row (docs/metrics.md §7); absent in files before it existed."""

    n_with_outcome: int = 0
    n_failed: int = 0
    by_cause: dict[str, int] = Field(default_factory=dict)
    by_reason: dict[str, int] = Field(default_factory=dict)
    labellers: dict[str, int] = Field(default_factory=dict)
    evidence: list[FailureEvidence] = Field(default_factory=list)
    user_caused_share: Est = Field(default_factory=Est)
    environment_share: Est = Field(default_factory=Est)
    agent_share: Est = Field(default_factory=Est)
    sr_excl_user_caused: Est = Field(default_factory=Est)
    reference_user_caused_share: Est = Field(default_factory=Est)


class NoiseQuantity(_Model):
    values: list[float | None] = Field(default_factory=list)
    range: float | None = None
    std: float | None = None


class NoiseDoc(_Model):
    """Run-to-run spread over a simulator's repeats (docs/metrics.md §7)."""

    n_repeats: int = 0
    trials: list[int] = Field(default_factory=list)
    quantities: dict[str, NoiseQuantity] = Field(default_factory=dict)

    def spread(self, q: str) -> float | None:
        v = self.quantities.get(q)
        return None if v is None else v.range


class TieDoc(_Model):
    """Another simulator this row cannot be told apart from."""

    label: str
    diff: float | None = None
    p_value: float | None = None
    noise_floor: float | None = None


class PassKDoc(_Model):
    """τ-bench's pass^k of a row for one k (docs/metrics.md §7); absent in older files."""

    k: int
    sim: Est = Field(default_factory=Est)
    n_tasks: int = 0
    reference: Est | None = None
    inflation: Est | None = None
    n_tasks_reference: int = 0
    sim_on_reference_tasks: float | None = None
    tasks_too_few_tries: int = 0


class RowDoc(_Model):
    label: str
    kind: str = "candidate"
    spec: str = ""
    user_ids: list[str] = Field(default_factory=list)
    agents: list[str] = Field(default_factory=list)  # the agent(s) the row's sessions ran with
    synthetic: bool = False
    n_sessions: int
    n_tasks: int
    usi: Est
    components: dict[str, Est]
    ece: Est = Field(default_factory=Est)
    sr_sim: Est = Field(default_factory=Est)
    sr_human: Est = Field(default_factory=Est)
    sr_inflation: Est = Field(default_factory=Est)
    failures: FailuresDoc | None = None
    noise_floor: NoiseDoc | None = None
    not_distinguishable: list[TieDoc] = Field(default_factory=list)
    pass_k: list[PassKDoc] = Field(default_factory=list)
    excluded: dict[str, int] = Field(default_factory=dict)
    # completed / model_failure / infra_error / running (docs/protocol.md); absent before
    sessions_by_category: dict[str, int] = Field(default_factory=dict)
    features: dict[str, FeatureValues] = Field(default_factory=dict)
    gaps: list[str] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)


class ReferenceDoc(_Model):
    spec: str = ""
    label: str
    synthetic: bool = False
    n_sessions: int
    n_tasks: int
    batches: dict[str, int] = Field(default_factory=dict)
    eval_available: bool = True
    synthetic_sessions: int | None = None
    # "people", "synthetic" or "simulator" (a τ² results file as the reference); files written
    # before the field existed had only people or synthetic references.
    kind: str = ""
    simulators: list[str] = Field(default_factory=list)
    pass_k: list[PassKDoc] = Field(default_factory=list)
    sessions_by_category: dict[str, int] = Field(default_factory=dict)


class SettingsDoc(_Model):
    n_boot: int = 0
    seed: int = 0
    ci_level: float = 0.95
    n_permutations: int = 0
    ceiling_splits: int | None = None
    min_difficulty_samples: int | None = None
    difficulty_source: str = ""
    n_examples: int | None = None
    # Files written before these fields existed also resampled tasks, so "tasks" is true there.
    resampling: str = "tasks"
    resampling_detail: str = ""
    repeats: int | None = None
    alpha: float = 0.05
    scorer: str = "simgap"  # "paper": the authors' reference scorer's rules (--paper)


class ComparisonDoc(_Model):
    a: str
    b: str
    usi_a: float | None = None
    usi_b: float | None = None
    diff: float | None = None
    p_value: float | None = None
    n_tasks: int = 0
    n_permutations: int = 0
    sr_a: float | None = None
    sr_b: float | None = None
    sr_diff: float | None = None
    sr_p_value: float | None = None
    noise_floor: float | None = None
    sr_noise_floor: float | None = None
    alpha: float = 0.05
    distinguishable: bool | None = None
    verdict: str = ""


class FieldInfo(_Model):
    field: str
    prompt: str = ""
    kind: str = ""
    levels: list[str]
    values: list[float | None] = Field(default_factory=list)


class QuestionnaireInfo(_Model):
    name: str = "usi"
    version: str = ""
    fields: list[FieldInfo] = Field(default_factory=list)


class Distribution(_Model):
    n_sessions: int = 0
    counts: dict[str, list[int]] = Field(default_factory=dict)
    missing: dict[str, int] = Field(default_factory=dict)


class Answers(_Model):
    reference: Distribution | None = None
    candidates: dict[str, Distribution] = Field(default_factory=dict)


class TurnText(_Model):
    role: str
    text: str


class ExampleSide(_Model):
    session_id: str = ""
    user_id: str | None = None
    batch: str = ""
    trial: int = 0
    success: bool | None = None
    feature_value: float | None = None
    turns: list[TurnText] = Field(default_factory=list)
    turns_omitted: int = 0
    omitted_after: int = 0


class Example(_Model):
    task: str
    feature: str
    dimension: str = ""
    gap: str = ""
    candidate: ExampleSide
    reference: ExampleSide


class Details(_Model):
    version: int = 1
    questionnaire: QuestionnaireInfo = Field(default_factory=QuestionnaireInfo)
    answers: Answers = Field(default_factory=Answers)
    examples: dict[str, list[Example]] = Field(default_factory=dict)


class ScoreDoc(_Model):
    schema_: str = Field(alias="schema")
    simgap_version: str = ""
    created_at: str = ""
    usi_features_version: str = ""
    reference: ReferenceDoc
    settings: SettingsDoc = Field(default_factory=SettingsDoc)
    components: list[str] = Field(default_factory=lambda: ["D1", "D2", "D3", "D4", "Eval", "Cal"])
    ceiling: RowDoc | None = None
    rows: list[RowDoc]
    comparisons: list[ComparisonDoc] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list)
    details: Details | None = None

    @property
    def synthetic_reference(self) -> bool:
        """True when the reference stands in for people (it must then never be called human)."""
        ref = self.reference
        return ref.synthetic or bool(ref.synthetic_sessions)

    @property
    def reference_kind(self) -> str:
        """ "people", "synthetic" or "simulator": the reference is called people only when
        it is."""
        if self.synthetic_reference:
            return "synthetic"
        # the synthetic flags above are the truth about a stand-in; `kind` adds "simulator"
        return "simulator" if self.reference.kind == "simulator" else "people"


def _loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top level)"


def parse_score(data: Any, *, source: str = "score file") -> ScoreDoc:
    """Validate a decoded score JSON; ScoreFileError names the source and the bad field."""
    if not isinstance(data, dict):
        raise ScoreFileError(f"{source}: not a simgap score file (expected a JSON object)")
    schema = data.get("schema")
    if not isinstance(schema, str) or not schema.startswith(SCHEMA_PREFIX):
        raise ScoreFileError(
            f"{source}: field 'schema' is {schema!r}, expected 'simgap.score/1' "
            "(write it with `simgap score`)"
        )
    try:
        return ScoreDoc.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = _loc(tuple(err["loc"]))
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        raise ScoreFileError(f"{source}: field {loc}: {err['msg']}{more}") from None


def load_score(path: str | Path) -> ScoreDoc:
    """Read `usi_scores.json` (or any file `simgap score` wrote) for the report."""
    p = Path(path)
    if p.is_dir():
        p = p / "usi_scores.json"
    if not p.exists():
        raise ScoreFileError(f"{p}: no such score file (write one with `simgap score`)")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ScoreFileError(f"{p}: cannot read: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ScoreFileError(
            f"{p}: not JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None
    return parse_score(data, source=str(p))
