"""The 19 USI features of one session, computed deterministically from its user turns.

These are the paper's behavioural measurements (arXiv 2603.11245, D1–D4; definitions as in the
authors' released extractor, see `lexicons`). Each is a per-session number; `simgap.metrics`
averages them over the sessions of a set and compares sets with Sørensen–Dice.

A session whose user said nothing countable has no features (`None`): it is left out of the
feature means (as in the paper) but still counts for success rate and calibration.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from simgap.annotate import lexicons as lx
from simgap.models import Role, Session

# Bump when any feature's definition changes: stored annotations from an older version are
# then recomputed instead of reused.
USI_FEATURES_VERSION = "usi-features-1"

DIMENSIONS: Mapping[str, tuple[str, ...]] = {
    "D1": (
        "politeness_rate",
        "short_msg_rate",
        "formality_rate",
        "ack_only_rate",
        "verbosity_cv",
        "repeat_rate",
        "id_confuse_rate",
    ),
    "D2": ("info_frontload", "id_density", "user_words_per_turn", "opening_words"),
    "D3": (
        "uncertainty_rate",
        "certainty_rate",
        "pushback_q_rate",
        "clarify_q_rate",
        "info_q_rate",
    ),
    "D4": ("emotion_rate", "accusation_rate", "pivot_rate"),
}
DIMENSION_TITLES: Mapping[str, str] = {
    "D1": "conversation style",
    "D2": "information provision",
    "D3": "clarification",
    "D4": "error reaction",
}
FEATURE_NAMES: tuple[str, ...] = tuple(f for feats in DIMENSIONS.values() for f in feats)
FEATURE_DIMENSION: Mapping[str, str] = {f: d for d, fs in DIMENSIONS.items() for f in fs}

SHORT_MSG_WORDS = 3  # a "short" turn has at most this many words
FRONTLOAD_TURNS = 2  # info_frontload: share of all words said in the first two user turns
REPEAT_MIN_COUNT = 10  # repeat_rate: some word trigram occurs more than this many times


def is_meta_message(text: str) -> bool:
    """Messages that are interface commands, not words for the agent (the paper drops them)."""
    stripped = text.strip()
    if stripped.startswith(lx.HUMAN_META_PREFIXES):
        return True
    if any(m in text for m in lx.HUMAN_META_MARKERS):
        return True
    return stripped in ("/stop", *lx.CONTROL_TOKENS)


def clean_user_text(text: str) -> str:
    """What the user said to the agent: control tokens and leaked model markup removed."""
    for tok in lx.CONTROL_TOKENS:
        text = text.replace(tok, "")
    return lx.AGENT_MARKUP.sub("", text).strip()


def user_texts(session: Session) -> list[str]:
    """The session's user messages as the features see them, in order, empty ones dropped.

    Turns the τ² environment replayed from a task's initial history (`meta.initial`) were not
    written by this user and are skipped.
    """
    out: list[str] = []
    for t in session.turns:
        if t.role != Role.USER or not t.content or t.meta.get("initial"):
            continue
        if is_meta_message(t.content):
            continue
        text = clean_user_text(t.content)
        if text:
            out.append(text)
    return out


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs) if xs else 0.0


def _rate(flags: Sequence[bool]) -> float:
    return sum(1 for f in flags if f) / len(flags) if flags else 0.0


def usi_features(texts: Sequence[str]) -> dict[str, float] | None:
    """The 19 features of one session from its user messages (see docs/metrics.md, D1–D4).

    Returns None when there is no user message: such a session has no style to measure.
    """
    if not texts:
        return None
    lowered = [t.lower() for t in texts]
    counts = [len(t.split()) for t in texts]
    total = sum(counts)
    mean_words = _mean([float(c) for c in counts])

    # Population standard deviation over turns / mean words: how much turn length varies.
    if mean_words > 0 and len(counts) > 1:
        var = sum((c - mean_words) ** 2 for c in counts) / len(counts)
        verbosity_cv = var**0.5 / mean_words
    else:
        verbosity_cv = 0.0

    trigrams: Counter[tuple[str, ...]] = Counter()
    for t in lowered:
        w = t.split()
        trigrams.update(tuple(w[i : i + 3]) for i in range(len(w) - 2))
    repeat = any(n > REPEAT_MIN_COUNT for n in trigrams.values())

    # Question kinds are exclusive, in priority order pushback > clarification > information.
    push = clar = info = 0
    for t in lowered:
        if lx.PUSHBACK_Q.search(t):
            push += 1
        elif lx.CLARIFY_Q.search(t):
            clar += 1
        elif lx.INFO_Q.search(t):
            info += 1
    n = len(texts)

    return {
        "politeness_rate": _rate([bool(lx.POLITE.search(t)) for t in lowered]),
        "short_msg_rate": _rate([c <= SHORT_MSG_WORDS for c in counts]),
        "formality_rate": _rate([bool(lx.DASH.search(t)) for t in texts]),
        "ack_only_rate": _rate([bool(lx.ACK_ONLY.match(t.strip())) for t in lowered]),
        "verbosity_cv": verbosity_cv,
        "repeat_rate": 1.0 if repeat else 0.0,
        "id_confuse_rate": 1.0 if any(lx.ID_CONFUSE.search(t) for t in lowered) else 0.0,
        "info_frontload": sum(counts[:FRONTLOAD_TURNS]) / total if total else 0.0,
        "id_density": _mean([float(len(lx.ID_TOKEN.findall(t))) for t in lowered]),
        "user_words_per_turn": mean_words,
        "opening_words": float(counts[0]),
        "uncertainty_rate": _rate([bool(lx.UNCERTAINTY.search(t)) for t in lowered]),
        "certainty_rate": _rate([bool(lx.CERTAINTY.search(t)) for t in lowered]),
        "pushback_q_rate": push / n,
        "clarify_q_rate": clar / n,
        "info_q_rate": info / n,
        "emotion_rate": _rate([bool(lx.EMOTION.search(t)) for t in lowered]),
        "accusation_rate": _rate([bool(lx.ACCUSATION.search(t)) for t in lowered]),
        "pivot_rate": _rate([bool(lx.PIVOT.search(t)) for t in lowered]),
    }


def session_features(session: Session) -> dict[str, float] | None:
    """The 19 USI features of a session, or None when its user said nothing."""
    return usi_features(user_texts(session))
