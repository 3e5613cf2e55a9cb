"""Evaluative alignment (Eval): do the simulator's questionnaire answers match the people's?

Paper (arXiv 2603.11245, Eval; details as in the authors' released scorer): for a task, compare
the simulator's answers with the person's on the eight survey fields, each normalised to [0, 1]
by its scale (`QuestionItem.normalise`):

    Eval_task = 100 · (1 − mean over the fields the person answered of |sim − human|)

and Eval = the mean of Eval_task over tasks. Where the simulator left a field unanswered the
paper draws a random valid answer (seeded); simgap uses that draw's expected value, the mean of
|human − level| over the field's levels, so the penalty is the same on average and the score is
deterministic. When a task has several sessions on a side, Eval_task averages all pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from simgap.models import Feedback, ItemKind, Questionnaire

Vector = NDArray[np.float64]


def scored_fields(q: Questionnaire) -> list[str]:
    return [i.field for i in q.scored_items]


def field_levels(q: Questionnaire) -> list[Vector]:
    """For each scored field, the distinct normalised values an answer can take."""
    out: list[Vector] = []
    for item in q.scored_items:
        if item.kind == ItemKind.LIKERT:
            assert item.scale_min is not None and item.scale_max is not None
            vals = {item.normalise(v) for v in range(item.scale_min, item.scale_max + 1)}
        else:
            vals = {item.normalise(o) for o in item.options}
        out.append(np.array(sorted(v for v in vals if v is not None), dtype=np.float64))
    return out


def answer_vector(fb: Feedback, q: Questionnaire) -> Vector:
    """Normalised answers in `scored_fields` order; NaN where unanswered or unusable."""
    out = np.full(len(q.scored_items), np.nan)
    for i, item in enumerate(q.scored_items):
        value = fb.answers.get(item.field)
        if value is None:
            continue
        try:
            norm = item.normalise(item.validate_answer(value))
        except ValueError:
            continue  # an answer outside the scale is treated as missing, never coerced
        if norm is not None:
            out[i] = norm
    return out


def pair_agreement(human: Vector, sim: Vector, levels: Sequence[Vector]) -> float:
    """100 · (1 − mean |sim − human|) over the fields the human answered; NaN if none."""
    diffs: list[float] = []
    for f, h in enumerate(human):
        if np.isnan(h):
            continue
        s = sim[f]
        if np.isnan(s):
            diffs.append(float(np.mean(np.abs(levels[f] - h))))
        else:
            diffs.append(abs(float(s) - float(h)))
    if not diffs:
        return float("nan")
    return 100.0 * (1.0 - float(np.mean(diffs)))


def task_agreement(
    sims: Sequence[Vector], humans: Sequence[Vector], levels: Sequence[Vector]
) -> float:
    """Eval_task: mean pair agreement over all (simulator, human) answer pairs; NaN if none."""
    scores = [pair_agreement(h, s, levels) for s in sims for h in humans]
    scores = [x for x in scores if not np.isnan(x)]
    return float(np.mean(scores)) if scores else float("nan")
