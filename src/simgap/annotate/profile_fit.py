"""Fit a `BehaviorProfile` on a reference set (people, normally), for the `grounded` simulator.

It lives in `annotate` because it measures with the annotation lexicons; the `users` stage
only reads the fitted profile (JSON), so no stage imports a later one.

Every rate is estimated with the USI's own lexicons (`simgap.annotate.lexicons`, the paper's):
the share of a session's user turns carrying a marker, averaged over sessions. Bare
acknowledgements ("ok.", "go ahead.") are left out of the denominator, as the parametric
simulator never decorates them. `frontload` is the share of sessions whose opening message
introduces the customer (a name or an account id); `max_turns` the 90th percentile of user
turns per session; questionnaire answers a normal per field (mean, sd of the normalised
answer). `ack_only` is not identifiable from transcripts alone and keeps its default.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from simgap.annotate import lexicons as lx
from simgap.annotate.features import user_texts
from simgap.models import Feedback, Session, load_questionnaire
from simgap.users.profile import RATE_FEATURES, AnswerDist, BehaviorProfile

_PATTERNS: dict[str, re.Pattern[str]] = {
    "politeness": lx.POLITE,
    "uncertainty": lx.UNCERTAINTY,
    "certainty": lx.CERTAINTY,
    "emotion": lx.EMOTION,
    "accusation": lx.ACCUSATION,
    "clarify_q": lx.CLARIFY_Q,
    "info_q": lx.INFO_Q,
    "formal_dash": lx.DASH,
}
_INTRODUCES = re.compile(r"\bmy name is\b|\b[a-z]+_[a-z]+_\d{3,}\b")


def _marks(key: str, text: str) -> bool:
    lower = text.lower()
    if key == "formal_dash":
        return bool(lx.DASH.search(text))
    if key == "clarify_q":  # clarification only when not a pushback, as in the features
        return bool(lx.CLARIFY_Q.search(lower)) and not lx.PUSHBACK_Q.search(lower)
    if key == "info_q":
        return (
            bool(lx.INFO_Q.search(lower))
            and not lx.CLARIFY_Q.search(lower)
            and not lx.PUSHBACK_Q.search(lower)
        )
    return bool(_PATTERNS[key].search(lower))


def session_rates(texts: Sequence[str]) -> dict[str, float] | None:
    """Per-session marker rates over the user turns that are not bare acknowledgements."""
    turns = [t for t in texts if not lx.ACK_ONLY.match(t.strip().lower())]
    if not turns:
        return None
    return {k: sum(_marks(k, t) for t in turns) / len(turns) for k in RATE_FEATURES}


def fit_profile(
    sessions: Sequence[Session],
    feedback: Sequence[Feedback] = (),
    *,
    name: str = "grounded",
    source: str = "",
) -> BehaviorProfile:
    """The profile whose parametric simulator best matches these sessions on the USI markers."""
    per_session: list[dict[str, float]] = []
    openings: list[bool] = []
    n_turns: list[int] = []
    for s in sessions:
        texts = user_texts(s)
        r = session_rates(texts)
        if r is None:
            continue
        per_session.append(r)
        openings.append(bool(_INTRODUCES.search(texts[0].lower())))
        n_turns.append(len(texts))
    if not per_session:
        raise ValueError("no session with user messages to fit a profile on")
    rates = {k: float(np.mean([r[k] for r in per_session])) for k in RATE_FEATURES}
    q = load_questionnaire("usi")
    answers: dict[str, AnswerDist] = {}
    for item in q.scored_items:
        vals = [
            v for fb in feedback if (v := item.normalise(fb.answers.get(item.field))) is not None
        ]
        if vals:
            answers[item.field] = AnswerDist(
                mean=float(np.mean(vals)), sd=min(1.0, float(np.std(vals)))
            )
    return BehaviorProfile(
        name=name,
        source=source,
        **{k: round(v, 4) for k, v in rates.items()},
        frontload=round(float(np.mean(openings)), 4),
        max_turns=max(2, int(np.ceil(np.percentile(n_turns, 90)))),
        feedback=answers,
    )
