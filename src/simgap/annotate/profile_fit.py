"""Fit a `BehaviorProfile` on a reference set (people, normally), for the `grounded` simulator.

It lives in `annotate` because it measures with the annotator: the USI lexicons
(`lexicons.py`, the paper's) and the rule codebook (`rules.rule_codes`); the `users` stage only
reads the fitted profile (JSON), so no stage imports a later one. Every estimate is a pooled
share of user turns (the maximum-likelihood estimate of a per-turn probability), counted the way
the parametric simulator draws it, so fitting the simulator's own sessions gives its
parameters back (`tests/users/test_fit.py`):

* **markers** (politeness, hedges, ... casual writing, self-correction): share of *decorated*
  turns (more than three words, the codebook's medium/long length) carrying the marker. The
  question markers leave out each session's last turn (a customer leaving asks nothing);
  `vague` counts only turns without a hedge (hedges are vague too, and are `uncertainty`'s).
* **elaborate**: share of decorated turns after the opening that are long (> 30 words,
  `simgap.users.phrases.LONG_TURN_WORDS`).
* **frontload**: share of sessions whose opening introduces the customer (a name, an account
  id such as `ana_lee_1234`, "user id").
* Per agent move (`simgap.users.agent_moves`, the classifier the simulator answers with), not
  counting the session's last turn: after a request for a detail, `withhold` = share of
  refusals (the codebook's withholding lexicon) and `terse` = share of short answers among the
  rest; after a proposal, `ack_only` = share of bare acknowledgements (USI `ack_only` lexicon).
* **on_error**: after an agent error or refusal (the annotator's `after_error`), the share of
  each reaction: escalates > gives up > pushes back (the USI pushback lexicon) > repeats
  (codebook repeat markers) > pivots (USI pivot lexicon) > none, first match wins.
* **max_turns**: the 90th percentile of user turns per session; **feedback**: per
  questionnaire field, mean and standard deviation of the normalised answers.

Estimates from fewer than `MIN_EVIDENCE` turns keep the default value and are listed in
`FitReport.defaulted`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from simgap.annotate import lexicons as lx
from simgap.annotate.context import TurnContext, user_turn_contexts
from simgap.annotate.rules import rule_codes
from simgap.models import Feedback, Session, load_questionnaire
from simgap.users.agent_moves import AgentMove, classify_agent_message
from simgap.users.phrases import LONG_TURN_WORDS
from simgap.users.profile import (
    ERROR_REACTIONS,
    MARKERS,
    QUESTION_MARKERS,
    AnswerDist,
    BehaviorProfile,
    ErrorReactions,
)

MIN_EVIDENCE = 5  # turns an estimate needs before it replaces the default
_INTRODUCES = re.compile(r"\bmy name is\b|\buser ?id\b|\b[a-z]+_[a-z]+_\d{3,}\b")
_LEXICON_MARKERS: dict[str, re.Pattern[str]] = {
    "politeness": lx.POLITE,
    "uncertainty": lx.UNCERTAINTY,
    "certainty": lx.CERTAINTY,
    "emotion": lx.EMOTION,
    "accusation": lx.ACCUSATION,
    "clarify_q": lx.CLARIFY_Q,
    "info_q": lx.INFO_Q,
    "confirm_q": lx.CONFIRM_Q,
}


def turn_markers(ctx: TurnContext) -> dict[str, bool]:
    """Which profile markers one user turn carries, by the annotator's lexicons and codes."""
    lower = ctx.text.lower()
    codes = rule_codes(ctx)
    out = {k: bool(p.search(lower)) for k, p in _LEXICON_MARKERS.items()}
    out["formal_dash"] = bool(lx.DASH.search(ctx.text))
    out["vague"] = bool(codes["vague"])
    out["informal"] = bool(codes["informality"])
    out["self_correction"] = bool(codes["self_correction"])
    return out


def error_reaction(text: str) -> str:
    """The reaction a turn after an agent error shows (first match in `ERROR_REACTIONS`
    priority: escalates, gives up, pushes back, repeats, pivots), or "none"."""
    lower = text.lower()
    checks = (
        ("escalates", lx.ESCALATE),
        ("gives_up", lx.GIVE_UP),
        ("pushes_back", lx.PUSHBACK_Q),
        ("repeats_request", lx.REPEAT_MARKERS),
        ("pivots", lx.PIVOT),
    )
    for name, pattern in checks:
        if pattern.search(lower):
            return name
    return "none"


@dataclass
class Tally:
    """Hits and trials per estimate, then per-reaction counts after errors."""

    hits: Counter[str] = field(default_factory=Counter)
    trials: Counter[str] = field(default_factory=Counter)
    reactions: Counter[str] = field(default_factory=Counter)
    openings: list[bool] = field(default_factory=list)
    n_turns: list[int] = field(default_factory=list)

    def add(self, key: str, hit: bool) -> None:
        self.trials[key] += 1
        self.hits[key] += int(hit)

    def rate(self, key: str) -> float | None:
        n = self.trials[key]
        return self.hits[key] / n if n >= MIN_EVIDENCE else None


def tally_session(session: Session, tally: Tally) -> None:
    """Count one session's user turns into `tally` (see the module docstring)."""
    ctxs = user_turn_contexts(session)
    if not ctxs:
        return
    tally.n_turns.append(len(ctxs))
    tally.openings.append(bool(_INTRODUCES.search(ctxs[0].text.lower())))
    last = len(ctxs) - 1
    for ctx in ctxs:
        short = len(ctx.text.split()) <= 3
        if not short:
            marks = turn_markers(ctx)
            for m in MARKERS:
                if m in QUESTION_MARKERS and ctx.position == last:
                    continue
                if m == "vague" and marks["uncertainty"]:
                    continue
                tally.add(m, marks[m])
            if ctx.position > 0:
                tally.add("elaborate", len(ctx.text.split()) > LONG_TURN_WORDS)
        if ctx.position == 0:
            continue
        move = classify_agent_message(ctx.prev_agent_text)
        if ctx.after_error or move == AgentMove.TROUBLE:
            tally.reactions[error_reaction(ctx.text)] += 1
            continue
        if ctx.position == last:
            continue
        if move == AgentMove.DETAIL:
            refused = bool(lx.WITHHOLD.search(ctx.text.lower()))
            tally.add("withhold", refused)
            if not refused:
                tally.add("terse", short)
        elif move == AgentMove.PROPOSAL:
            tally.add("ack_only", bool(lx.ACK_ONLY.match(ctx.text.strip().lower())))


@dataclass
class FitReport:
    profile: BehaviorProfile
    sessions: int  # sessions with user turns
    evidence: dict[str, int]  # turns behind each estimate
    defaulted: list[str]  # estimates with too little evidence (default kept)


def fit_profile_report(
    sessions: Sequence[Session],
    feedback: Sequence[Feedback] = (),
    *,
    name: str = "grounded",
    source: str = "",
) -> FitReport:
    """The profile whose parametric simulator best matches these sessions, with its evidence."""
    tally = Tally()
    for s in sessions:
        tally_session(s, tally)
    if not tally.n_turns:
        raise ValueError("no session with user messages to fit a profile on")
    base = BehaviorProfile()
    values: dict[str, object] = {}
    defaulted: list[str] = []
    for key in (*MARKERS, "frontload", "terse", "ack_only", "elaborate", "withhold"):
        rate = float(np.mean(tally.openings)) if key == "frontload" else tally.rate(key)
        if rate is None:
            defaulted.append(key)
            continue
        values[key] = round(rate, 4)
    n_err = sum(tally.reactions.values())
    if n_err >= MIN_EVIDENCE:
        values["on_error"] = ErrorReactions(
            **{k: round(tally.reactions[k] / n_err, 4) for k in ERROR_REACTIONS}
        )
    else:
        defaulted.append("on_error")
    evidence = {k: int(tally.trials[k]) for k in tally.trials}
    evidence["on_error"] = n_err
    evidence["frontload"] = len(tally.openings)
    profile = base.model_copy(
        update={
            **values,
            "name": name,
            "source": source,
            "n_sessions": len(tally.n_turns),
            "max_turns": max(2, int(np.ceil(np.percentile(tally.n_turns, 90)))),
            "feedback": fit_answers(feedback),
        }
    )
    return FitReport(
        profile=BehaviorProfile.model_validate(profile.model_dump()),
        sessions=len(tally.n_turns),
        evidence=evidence,
        defaulted=defaulted,
    )


def fit_profile(
    sessions: Sequence[Session],
    feedback: Sequence[Feedback] = (),
    *,
    name: str = "grounded",
    source: str = "",
) -> BehaviorProfile:
    """`fit_profile_report(...).profile`."""
    return fit_profile_report(sessions, feedback, name=name, source=source).profile


def fit_answers(feedback: Sequence[Feedback]) -> dict[str, AnswerDist]:
    """Per scored field: mean and (population) sd of the normalised answers given."""
    q = load_questionnaire("usi")
    out: dict[str, AnswerDist] = {}
    for item in q.scored_items:
        vals = [
            v for fb in feedback if (v := item.normalise(fb.answers.get(item.field))) is not None
        ]
        if vals:
            out[item.field] = AnswerDist(
                mean=round(float(np.mean(vals)), 4), sd=round(min(1.0, float(np.std(vals))), 4)
            )
    return out
