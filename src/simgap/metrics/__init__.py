"""Stage: metrics. The User-Sim Index (USI) and its components, the human ceiling, bootstrap
intervals over tasks, the paired permutation test, and the leaderboard `simgap score` prints.

Entry points the report stage uses: `score_sets` (-> `Leaderboard`, whose `to_json()` is the
documented `simgap.score/1` schema), `parse_set_spec` / `load_set` to read inputs.
"""

from simgap.metrics.calibration import BIN_EDGES, bin_index, ece, load_difficulty
from simgap.metrics.core import COMPONENTS
from simgap.metrics.dice import dice, dice_scalar
from simgap.metrics.estimate import Estimate
from simgap.metrics.inputs import LoadedSet, SetSpec, load_set, parse_set_spec, split_by_user
from simgap.metrics.leaderboard import (
    CEILING_LABEL,
    SCHEMA,
    SYNTHETIC_CEILING_LABEL,
    Leaderboard,
    Row,
    ScoredSet,
    ScoreSettings,
    score_scored,
    score_sets,
)
from simgap.metrics.permutation import Comparison

__all__ = [
    "BIN_EDGES",
    "CEILING_LABEL",
    "COMPONENTS",
    "SCHEMA",
    "SYNTHETIC_CEILING_LABEL",
    "Comparison",
    "Estimate",
    "Leaderboard",
    "LoadedSet",
    "Row",
    "ScoreSettings",
    "ScoredSet",
    "SetSpec",
    "bin_index",
    "dice",
    "dice_scalar",
    "ece",
    "load_difficulty",
    "load_set",
    "parse_set_spec",
    "score_scored",
    "score_sets",
    "split_by_user",
]
