"""Numeric style features of one user turn (codebook `style_features`; project definitions).

Diagnostics next to the categorical codes: length, lexical diversity, question rate,
typo/informality rate, sentiment and frustration markers. Not part of the USI.
"""

from __future__ import annotations

import re

from simgap.annotate import lexicons as lx

_SENTENCE = re.compile(r"[^.!?]+[.!?]*")
_CAPS_WORD = re.compile(r"\b[A-Z]{3,}\b")
_BANGS = re.compile(r"!{2,}")
# Capitalised abbreviations that are not shouting.
_NOT_SHOUTING = frozenset({"ID", "USA", "UK", "EU", "ASAP", "PIN", "SMS", "USD", "EUR", "OK"})


def style_features(text: str) -> dict[str, float]:
    """Seven numbers describing how one turn is written (see the codebook for each)."""
    words = lx.WORD.findall(text.lower())
    n = len(words)
    sentences = [s for s in _SENTENCE.findall(text) if s.strip()]
    questions = sum(1 for s in sentences if s.rstrip().endswith("?"))
    informal = sum(1 for w in words if lx.INFORMAL.fullmatch(w))
    lower = text.lower()
    pos = len(lx.POSITIVE.findall(lower))
    neg = len(lx.NEGATIVE.findall(lower))
    caps = sum(1 for w in _CAPS_WORD.findall(text) if w not in _NOT_SHOUTING)
    frustration = (
        len(lx.FRUSTRATION.findall(lower))
        + len(lx.ANGER.findall(lower))
        + caps
        + len(_BANGS.findall(text))
    )
    return {
        "n_words": float(len(text.split())),
        "n_chars": float(len(text)),
        "type_token_ratio": len(set(words)) / n if n else 0.0,
        "question_rate": questions / len(sentences) if sentences else 0.0,
        "informality_rate": informal / n if n else 0.0,
        "sentiment": (pos - neg) / (pos + neg) if pos + neg else 0.0,
        "frustration_markers": float(frustration),
    }


def shouting_words(text: str) -> int:
    """Words written in capitals (3+ letters), abbreviations like ID or USA excluded."""
    return sum(1 for w in _CAPS_WORD.findall(text) if w not in _NOT_SHOUTING)
