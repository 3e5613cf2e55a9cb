"""Stage: annotate. The 19 USI text features, the behavioural codebook (versioned YAML), and
the rule-based and LLM annotators that code user turns with it.

`session_features` is what the USI uses; the codebook codes are extra diagnostics only.
"""

from simgap.annotate.agreement import cohen_kappa, rule_agreement
from simgap.annotate.base import Annotator
from simgap.annotate.codebook import Codebook, load_codebook
from simgap.annotate.features import (
    DIMENSIONS,
    FEATURE_NAMES,
    USI_FEATURES_VERSION,
    session_features,
    usi_features,
)
from simgap.annotate.rules import RULES_ANNOTATOR, RuleAnnotator

__all__ = [
    "DIMENSIONS",
    "FEATURE_NAMES",
    "RULES_ANNOTATOR",
    "USI_FEATURES_VERSION",
    "Annotator",
    "Codebook",
    "RuleAnnotator",
    "cohen_kappa",
    "load_codebook",
    "rule_agreement",
    "session_features",
    "usi_features",
]
