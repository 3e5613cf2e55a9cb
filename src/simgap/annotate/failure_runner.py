"""Label the failed sessions of a store with who caused them, and store the labels.

Resumable like `annotate_store`: a session already labelled by the same labeller (annotator
`failure:<labeller>`, version `FAILURE_VERSION`) is skipped, and each label is written as soon
as it is made. `simgap score` reads the stored labels (an LLM judge's wins over the rules') and
attributes the rest with the rules on the fly, so this step is optional.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from simgap.annotate.attribution import RULES_LABELLER, attribute_failure, is_failed
from simgap.annotate.failure_judge import FailureJudge
from simgap.models import FAILURE_PREFIX, FAILURE_VERSION, SessionStatus, Task, Usage
from simgap.store import SessionFilter, Store


@dataclass
class AttributionSummary:
    labeller: str
    selected: int = 0  # finished sessions the filter selected
    failed: int = 0  # of which failed (reward < 1)
    already_done: int = 0  # skipped: labelled earlier by this labeller
    labelled: int = 0
    judge_failed: int = 0  # the judge gave no valid answer: the rule label was stored
    by_cause: Counter[str] = field(default_factory=Counter)
    usage: Usage = field(default_factory=Usage)
    wall_s: float = 0.0


async def attribute_store(
    store: Store,
    judge: FailureJudge | None = None,
    flt: SessionFilter | None = None,
    *,
    tasks: Mapping[str, Task] | None = None,
    limit: int | None = None,
) -> AttributionSummary:
    """Label every failed, finished, not yet labelled session the filter selects.
    `tasks` (by `<domain>/<task_id>`) give the rules and the judge the users' scenarios."""
    t0 = time.perf_counter()
    labeller = judge.labeller if judge is not None else RULES_LABELLER
    summary = AttributionSummary(labeller=labeller)
    flt = replace(flt or SessionFilter(), statuses=[SessionStatus.DONE])
    done = store.annotated_session_ids(f"{FAILURE_PREFIX}{labeller}", FAILURE_VERSION)
    tasks = tasks or {}
    for s in store.iter_sessions(flt):
        summary.selected += 1
        if not is_failed(s):
            continue
        summary.failed += 1
        if s.session_id in done:
            summary.already_done += 1
            continue
        if limit is not None and summary.labelled >= limit:
            continue
        task = tasks.get(f"{s.domain}/{s.task_id}")
        label = await judge.judge(s, task) if judge is not None else attribute_failure(s, task)
        if label is None:  # pragma: no cover - is_failed() guarantees a label
            continue
        if "judge_failed" in label.meta:
            # the rule label is stored (as `failure:rules`, marked); the judge tries again on
            # the next run, since this session is not yet done for it
            summary.judge_failed += 1
        store.put_annotations([label.to_annotation()])
        summary.labelled += 1
        summary.by_cause[label.cause.value] += 1
        if label.usage is not None:
            summary.usage = summary.usage + label.usage
    summary.wall_s = time.perf_counter() - t0
    return summary
