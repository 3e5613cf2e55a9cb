"""Per-feature gaps between a simulator and people, in plain words (project addition).

For each dimension, the feature whose pooled simulator value is furthest from the people's in
relative terms (|m − h| / max(m, h), i.e. 1 − its Dice-like closeness) is written out as a
sentence such as "D2 information provision: puts 71% of its words in its first two turns vs
48% for people".
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from simgap.annotate.features import DIMENSION_TITLES, DIMENSIONS

# feature -> (sentence with {m} and {h}, value format: "pct" | "num1" | "num2")
TEMPLATES: Mapping[str, tuple[str, str]] = {
    "politeness_rate": ("is polite (please, thanks, sorry) in {m} of its turns vs {h}", "pct"),
    "short_msg_rate": ("writes short turns (3 words or fewer) {m} of the time vs {h}", "pct"),
    "formality_rate": ("uses em/en dashes in {m} of its turns vs {h}", "pct"),
    "ack_only_rate": ("sends bare acknowledgements ('ok', 'yes') in {m} of turns vs {h}", "pct"),
    "verbosity_cv": (
        "varies its turn length with a coefficient of variation of {m} vs {h}",
        "num2",
    ),
    "repeat_rate": ("repeats a phrase over and over in {m} of sessions vs {h}", "pct"),
    "id_confuse_rate": ("talks like the agent (role confusion) in {m} of sessions vs {h}", "pct"),
    "info_frontload": ("puts {m} of its words in its first two turns vs {h}", "pct"),
    "id_density": ("gives {m} ids/long tokens per turn vs {h}", "num2"),
    "user_words_per_turn": ("writes {m} words per turn vs {h}", "num1"),
    "opening_words": ("opens with {m} words vs {h}", "num1"),
    "uncertainty_rate": ("hedges ('I think', 'not sure') in {m} of its turns vs {h}", "pct"),
    "certainty_rate": ("sounds certain ('definitely', 'of course') in {m} of turns vs {h}", "pct"),
    "pushback_q_rate": (
        "pushes back ('are you sure', 'I already told you') in {m} of turns vs {h}",
        "pct",
    ),
    "clarify_q_rate": ("asks for clarification in {m} of its turns vs {h}", "pct"),
    "info_q_rate": ("asks for information in {m} of its turns vs {h}", "pct"),
    "emotion_rate": ("voices emotion (frustrated, worried, ugh) in {m} of turns vs {h}", "pct"),
    "accusation_rate": (
        "blames the agent ('wrong', 'useless', 'unacceptable') in {m} of turns vs {h}",
        "pct",
    ),
    "pivot_rate": ("changes course ('instead', 'how about') in {m} of its turns vs {h}", "pct"),
}


def _fmt(x: float, kind: str) -> str:
    if kind == "pct":
        return f"{100 * x:.0f}%"
    if kind == "num1":
        return f"{x:.1f}"
    return f"{x:.2f}"


def relative_gap(h: float, m: float) -> float:
    top = max(abs(h), abs(m))
    return 0.0 if top == 0 else abs(m - h) / top


def gap_sentence(feature: str, h: float, m: float, *, who: str = "people") -> str:
    template, kind = TEMPLATES[feature]
    return template.format(m=_fmt(m, kind), h=f"{_fmt(h, kind)} for {who}")


def gap_lines(
    reference: Mapping[str, float], candidate: Mapping[str, float], *, who: str = "people"
) -> list[str]:
    """One sentence per dimension about its largest relative feature gap (none if all equal)."""
    out: list[str] = []
    for dim, feats in DIMENSIONS.items():
        best: tuple[float, str] | None = None
        for f in feats:
            h, m = reference.get(f), candidate.get(f)
            if h is None or m is None or not (np.isfinite(h) and np.isfinite(m)):
                continue
            g = relative_gap(h, m)
            if g > 0 and (best is None or g > best[0]):
                best = (g, f)
        if best is not None:
            f = best[1]
            sentence = gap_sentence(f, reference[f], candidate[f], who=who)
            out.append(f"{dim} {DIMENSION_TITLES[dim]}: {sentence}")
    return out
