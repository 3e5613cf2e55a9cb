"""What `simgap report` needs beyond the leaderboard numbers: the optional `details` section.

The report must be buildable from the score JSON alone (one file to share, no database), so
`simgap score` also writes:

* the questionnaire's fields and answer levels, and per set (the reference and each candidate)
  how often each level was chosen — the "rating distributions" of the report, which show
  whether simulators rate conversations rosier than people;
* for each candidate a few **example conversations side by side**: the same task played by a
  person (reference) and by the simulator, picked where that simulator's largest feature gaps
  show most, so a reader can see what a number like "polite in 80% of turns vs 15%" looks like.

Conversations carry user/agent text turns only (no tool traffic), control tokens removed, long
turns and long conversations truncated. People's participant ids are not copied (only the
session id and batch). `--examples 0` leaves conversations out of the file entirely.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from simgap.annotate.features import (
    FEATURE_DIMENSION,
    FEATURE_NAMES,
    clean_user_text,
    is_meta_message,
)
from simgap.metrics.gaps import gap_sentence, relative_gap
from simgap.metrics.table import ScoredSession, pick_feedback
from simgap.models import (
    Feedback,
    ItemKind,
    Questionnaire,
    Role,
    Session,
    SessionStatus,
)

DETAILS_VERSION = 1
MAX_TURN_CHARS = 600  # one turn longer than this is cut (with "…")
MAX_TURNS = 16  # a conversation with more text turns keeps its first HEAD and last TAIL
HEAD_TURNS = 10
TAIL_TURNS = 5
MAX_GAP_FEATURES = 6  # features tried (largest relative gap first) when picking examples


# -- questionnaire ---------------------------------------------------------------------------
def questionnaire_info(q: Questionnaire) -> dict[str, Any]:
    """The scored fields with their answer levels (labels) and normalised values, in order."""
    fields: list[dict[str, Any]] = []
    for item in q.scored_items:
        if item.kind == ItemKind.LIKERT:
            assert item.scale_min is not None and item.scale_max is not None
            raw: list[int | str] = list(range(item.scale_min, item.scale_max + 1))
            labels = [str(v) for v in raw]
            if item.low_label:
                labels[0] = f"{labels[0]} ({item.low_label})"
            if item.high_label:
                labels[-1] = f"{labels[-1]} ({item.high_label})"
        else:
            raw = list(item.options)
            labels = list(item.options)
        fields.append(
            {
                "field": item.field,
                "prompt": item.prompt,
                "kind": item.kind.value,
                "levels": labels,
                "values": [item.normalise(v) for v in raw],
            }
        )
    return {"name": q.name, "version": q.version, "fields": fields}


def _level_index(q: Questionnaire) -> dict[str, dict[str, int]]:
    """field -> canonical answer (as str) -> level position."""
    out: dict[str, dict[str, int]] = {}
    for item in q.scored_items:
        if item.kind == ItemKind.LIKERT:
            assert item.scale_min is not None and item.scale_max is not None
            out[item.field] = {
                str(v): i for i, v in enumerate(range(item.scale_min, item.scale_max + 1))
            }
        else:
            out[item.field] = {o: i for i, o in enumerate(item.options)}
    return out


def session_answers(
    sessions: Iterable[Session], feedback: Mapping[str, Sequence[Feedback]], q: Questionnaire
) -> dict[str, dict[str, int]]:
    """session_id -> {field: level position} for finished sessions with a questionnaire.

    Uses the same questionnaire the scorer uses (the session's own user's). An answer outside
    the scale is left out, as Eval does.
    """
    index = _level_index(q)
    items = {i.field: i for i in q.scored_items}
    out: dict[str, dict[str, int]] = {}
    for s in sessions:
        if s.status != SessionStatus.DONE:
            continue
        fb = pick_feedback(s, feedback.get(s.session_id, ()))
        if fb is None:
            continue
        levels: dict[str, int] = {}
        for name, item in items.items():
            value = fb.answers.get(name)
            if value is None:
                continue
            try:
                canon = item.validate_answer(value)
            except ValueError:
                continue
            pos = index[name].get(str(canon))
            if pos is not None:
                levels[name] = pos
        out[s.session_id] = levels
    return out


def answer_distribution(
    answers: Mapping[str, Mapping[str, int]], session_ids: Iterable[str], q: Questionnaire
) -> dict[str, Any]:
    """Counts per level of each scored field over the given sessions (those with answers)."""
    info = questionnaire_info(q)["fields"]
    counts = {f["field"]: [0] * len(f["levels"]) for f in info}
    missing = dict.fromkeys(counts, 0)
    n = 0
    for sid in session_ids:
        a = answers.get(sid)
        if a is None:
            continue
        n += 1
        for name in counts:
            pos = a.get(name)
            if pos is None:
                missing[name] += 1
            else:
                counts[name][pos] += 1
    return {"n_sessions": n, "counts": counts, "missing": missing}


# -- conversations ---------------------------------------------------------------------------
def _cut(text: str, limit: int = MAX_TURN_CHARS) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def transcript(session: Session) -> dict[str, Any]:
    """User/agent text turns of a session (no tool traffic), truncated for the report."""
    turns: list[dict[str, str]] = []
    for t in session.turns:
        if t.role == Role.TOOL or not t.content or t.meta.get("initial"):
            continue
        if t.role == Role.USER:
            if is_meta_message(t.content):
                continue
            text = clean_user_text(t.content)
        else:
            text = t.content.strip()
        if text:
            turns.append({"role": t.role.value, "text": _cut(text)})
    omitted = 0
    if len(turns) > MAX_TURNS:
        omitted = len(turns) - HEAD_TURNS - TAIL_TURNS
        turns = turns[:HEAD_TURNS] + turns[-TAIL_TURNS:]
    return {"turns": turns, "turns_omitted": omitted, "omitted_after": HEAD_TURNS if omitted else 0}


def ranked_gap_features(features: Mapping[str, Mapping[str, float | None]]) -> list[str]:
    """Features with a gap, in the order examples illustrate them.

    First each dimension's largest relative gap (the features the gap lines talk about),
    largest first, then the remaining features by relative gap; ties keep the features' order.
    """
    gaps: dict[str, float] = {}
    for f in FEATURE_NAMES:
        h, m = features.get(f, {}).get("reference"), features.get(f, {}).get("candidate")
        if h is None or m is None or not (np.isfinite(h) and np.isfinite(m)):
            continue
        g = relative_gap(h, m)
        if g > 0:
            gaps[f] = g
    order = {f: i for i, f in enumerate(FEATURE_NAMES)}
    leaders: dict[str, str] = {}
    for f in sorted(gaps, key=lambda f: (-gaps[f], order[f])):
        leaders.setdefault(FEATURE_DIMENSION[f], f)
    first = sorted(leaders.values(), key=lambda f: (-gaps[f], order[f]))
    rest = [f for f in sorted(gaps, key=lambda f: (-gaps[f], order[f])) if f not in first]
    return first + rest


@dataclass(frozen=True)
class _Pick:
    score: float
    task: str
    cand: ScoredSession
    ref: ScoredSession


def pick_examples(
    *,
    features: Mapping[str, Mapping[str, float | None]],
    cand_sessions: Sequence[ScoredSession],
    ref_sessions: Sequence[ScoredSession],
    universe: set[str],
    n: int,
) -> list[tuple[str, ScoredSession, ScoredSession]]:
    """(feature, candidate session, reference session) pairs on the same task.

    Features are taken largest relative gap first; for each, the task (not already used) and
    the pair of sessions on it whose values differ most in the direction of the pooled gap.
    """
    if n <= 0:
        return []
    ranked = ranked_gap_features(features)
    cand_by_task: dict[str, list[ScoredSession]] = defaultdict(list)
    ref_by_task: dict[str, list[ScoredSession]] = defaultdict(list)
    for s in cand_sessions:
        if s.task in universe and s.features is not None:
            cand_by_task[s.task].append(s)
    for s in ref_sessions:
        if s.task in universe and s.features is not None:
            ref_by_task[s.task].append(s)
    tasks = sorted(set(cand_by_task) & set(ref_by_task))
    used: set[str] = set()
    out: list[tuple[str, ScoredSession, ScoredSession]] = []
    for f in ranked[:MAX_GAP_FEATURES]:
        i = FEATURE_NAMES.index(f)
        h = features[f]["reference"]
        m = features[f]["candidate"]
        assert h is not None and m is not None
        sign = 1.0 if m > h else -1.0
        best: _Pick | None = None
        for t in tasks:
            if t in used:
                continue
            for c in sorted(cand_by_task[t], key=lambda s: s.session_id):
                for r in sorted(ref_by_task[t], key=lambda s: s.session_id):
                    assert c.features is not None and r.features is not None
                    score = sign * float(c.features[i] - r.features[i])
                    if not np.isfinite(score) or score <= 0:
                        continue
                    if best is None or score > best.score + 1e-12:
                        best = _Pick(score, t, c, r)
        if best is not None:
            used.add(best.task)
            out.append((f, best.cand, best.ref))
        if len(out) >= n:
            break
    return out


def _side(
    s: ScoredSession, session: Session | None, feature: str, *, person: bool
) -> dict[str, Any]:
    value = None if s.features is None else float(s.features[FEATURE_NAMES.index(feature)])
    body = transcript(session) if session is not None else {"turns": [], "turns_omitted": 0}
    return {
        "session_id": s.session_id,
        # People's participant ids are not copied into the score file.
        "user_id": None if person else s.user_id,
        "batch": s.batch,
        "trial": s.trial,
        "success": None if s.success is None else bool(s.success >= 1.0),
        "feature_value": value,
        **body,
    }


def example_records(
    picks: Sequence[tuple[str, ScoredSession, ScoredSession]],
    *,
    features: Mapping[str, Mapping[str, float | None]],
    cand_texts: Mapping[str, Session],
    ref_texts: Mapping[str, Session],
    who: str,
) -> list[dict[str, Any]]:
    """The JSON of picked examples, each with the pooled gap sentence it illustrates."""
    out: list[dict[str, Any]] = []
    for f, c, r in picks:
        h, m = features[f]["reference"], features[f]["candidate"]
        assert h is not None and m is not None
        out.append(
            {
                "task": c.task,
                "feature": f,
                "dimension": FEATURE_DIMENSION[f],
                "gap": gap_sentence(f, h, m, who=who),
                "candidate": _side(c, cand_texts.get(c.session_id), f, person=False),
                "reference": _side(r, ref_texts.get(r.session_id), f, person=True),
            }
        )
    return out
