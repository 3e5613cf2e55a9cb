"""The one interface both annotators implement, and the session-level row they both write.

An annotator turns one session into annotations: one per countable user turn (codes + style
features) and one for the session (`turn_idx=None`). The session row is always written, even
for a session without user turns, because its presence is what marks the session as done for
this annotator and codebook version (`Store.annotated_session_ids`), which makes
`simgap annotate` resumable.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from typing import Any

from simgap.annotate.codebook import Codebook, CodeKind
from simgap.annotate.features import USI_FEATURES_VERSION, session_features
from simgap.models import Annotation, Session, Usage


class Annotator(ABC):
    """Codes the user turns of a session against a codebook."""

    name: str  # stored as Annotation.annotator: "rules", "llm:<model>"
    codebook: Codebook

    @property
    def codebook_version(self) -> str:
        return self.codebook.version

    @abstractmethod
    async def annotate(self, session: Session) -> list[Annotation]:
        """Turn annotations then the session annotation. Raises only for infrastructure
        failures (e.g. the model endpoint is down); bad answers become `missing` rows."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what the annotator holds (model clients)."""


def code_counts(codebook: Codebook, turns: list[Annotation]) -> dict[str, dict[str, int]]:
    """How often each value of each code was given over the turns that were not missing."""
    out: dict[str, dict[str, int]] = {}
    for c in codebook.codes:
        cnt: Counter[str] = Counter()
        for a in turns:
            if a.missing or c.name not in a.codes:
                continue
            v = a.codes[c.name]
            key = str(v).lower() if c.kind == CodeKind.FLAG else str(v)
            cnt[key] += 1
        out[c.name] = dict(sorted(cnt.items()))
    return out


def session_annotation(
    session: Session,
    *,
    annotator: str,
    codebook: Codebook,
    turns: list[Annotation],
    usage: Usage | None = None,
    meta: dict[str, Any] | None = None,
) -> Annotation:
    """The session row: the 19 USI features (always computed from text, whatever the
    annotator), mean style features over annotated turns, and code counts."""
    features: dict[str, float] = {}
    usi = session_features(session)
    if usi is not None:
        features.update(usi)
    ok = [a for a in turns if not a.missing]
    if ok:
        keys = sorted({k for a in ok for k in a.features})
        for k in keys:
            vals = [a.features[k] for a in ok if k in a.features]
            features[f"mean_{k}"] = sum(vals) / len(vals)
    return Annotation(
        session_id=session.session_id,
        turn_idx=None,
        annotator=annotator,
        codebook_version=codebook.version,
        features=features,
        usage=usage,
        meta={
            "usi_features_version": USI_FEATURES_VERSION,
            "has_usi_features": usi is not None,
            "n_turns": len(session.turns),
            "n_user_turns_annotated": len(turns),
            "n_missing": sum(1 for a in turns if a.missing),
            "code_counts": code_counts(codebook, turns),
            **(meta or {}),
        },
    )
