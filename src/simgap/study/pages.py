"""What the pages show, computed from the study without HTTP: the scenario in plain words, and
the admin views' rows (progress, sessions, one session's transcript and answers). Kept apart
from the routes so they can be checked without a browser and stay the same when routes move."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape

from simgap.models import SessionStatus, Termination
from simgap.study.assignment import AssignmentState
from simgap.study.capacity import ModelState
from simgap.study.chat import visible_messages
from simgap.study.service import Study


def scenario_sections(task: Any, domain: str) -> list[tuple[str, list[str]]]:
    """The τ² user scenario in plain words: headings a participant understands, the scenario's
    own sentences underneath (they are already written to "you")."""
    who = {
        "airline": "an airline's customer service",
        "retail": "an online shop's customer service",
        "telecom": "your phone company's technical support",
    }.get(domain, "customer service")
    out: list[tuple[str, str]] = []
    if task.persona:
        out.append(("Who you are", task.persona))
    if task.reason_for_call:
        out.append((f"Why you are contacting {who}", task.reason_for_call))
    if task.known_info:
        out.append(("What you know (share it when the agent asks)", task.known_info))
    if task.unknown_info:
        out.append(("What you do not know", task.unknown_info))
    if task.task_instructions:
        out.append(("How to play it", task.task_instructions))
    return [(h, scenario_paragraphs(t)) for h, t in out]


_LIST_ITEM = re.compile(r"^(?:[-*•]|\d+[.)])\s")


def scenario_paragraphs(text: str) -> list[str]:
    """τ²'s scenario text as the paragraphs to show. τ² separates paragraphs with blank lines;
    a single line break inside one is either a sentence wrapped in the source (airline task 0:
    "If Agent tells you that cancellation is not possible,\nmention that...") and is joined
    with a space, or the start of a list item ("- add 3 checked bags"), which stays a line of
    its own."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n", text):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        start = len(out)
        for ln in lines:
            if len(out) > start and not _LIST_ITEM.match(ln):
                out[-1] = f"{out[-1]} {ln}"
            else:
                out.append(ln)
    return out


def fmt_dt(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def study_ready(study: Study) -> bool:
    return study.hub.warmup.state == ModelState.READY


def capacity_summary(study: Study) -> dict[str, Any]:
    """The agent model's readiness and how busy the study is (`/healthz`, the admin page)."""
    r = study.hub.warmup.readiness()
    q = study.hub.replies
    return {
        "status": {ModelState.READY: "ok", ModelState.LOADING: "loading"}.get(r.state, "error"),
        "model": {
            "state": r.state.value,
            "load_s": None if r.load_s is None else round(r.load_s, 1),
            "seconds_in_state": round(r.since_s, 1),
        },
        "chats": {
            "active": study.assigner.count([AssignmentState.CHATTING]),
            "cap": study.line.cap,
            "waiting_to_start": len(study.line),
        },
        "replies": {
            "writing": q.in_progress,
            "queued": q.queued,
            "slots": q.slots,
            "mean_s": None if q.mean_s is None else round(q.mean_s, 1),
        },
    }


def admin_overview(study: Study) -> dict[str, Any]:
    cells = study.assigner.progress()
    target = sum(c.target for c in cells)
    complete = sum(c.complete for c in cells)
    in_progress = sum(c.in_progress for c in cells)
    by_task: dict[str, dict[str, int]] = {}
    for c in cells:
        d = by_task.setdefault(c.task_id, {"target": 0, "complete": 0, "in_progress": 0})
        d["target"] += c.target
        d["complete"] += c.complete
        d["in_progress"] += c.in_progress
    by_batch: dict[str, dict[str, int]] = {}
    for c in cells:
        d = by_batch.setdefault(c.batch, {"target": 0, "complete": 0, "in_progress": 0})
        d["target"] += c.target
        d["complete"] += c.complete
        d["in_progress"] += c.in_progress
    ids = study.session_ids()
    sessions = list(study.store.iter_sessions(_filter_ids(ids), with_turns=False)) if ids else []
    rewards: dict[str, list[float]] = {}
    for s in sessions:
        if s.status == SessionStatus.DONE and s.reward is not None:
            rewards.setdefault(s.task_id, []).append(s.reward.value)
    return {
        "total_target": target,
        "total_complete": complete,
        "total_in_progress": in_progress,
        "by_task": by_task,
        "by_batch": by_batch,
        "success": {k: sum(v) / len(v) for k, v in rewards.items() if v},
        "batches": study.assigner.batches,
        "agent": study.agent_spec.model,
        "domain": study.config.domain,
        "capacity": capacity_summary(study),
        "model_error": study.hub.warmup.error,
    }


def _filter_ids(ids: list[str]) -> Any:
    from simgap.store import SessionFilter

    return SessionFilter(session_ids=ids)


def admin_session_rows(study: Study) -> list[dict[str, Any]]:
    assigns = study.assigner.all()
    ids = [a.session_id for a in assigns]
    sessions = (
        {s.session_id: s for s in study.store.iter_sessions(_filter_ids(ids), with_turns=False)}
        if ids
        else {}
    )
    fb = {f.session_id for f in study.store.get_feedback(ids)} if ids else set()
    rows = []
    for a in reversed(assigns):
        s = sessions.get(a.session_id)
        rows.append(
            {
                "session_id": a.session_id,
                "participant_id": a.participant_id,
                "task_id": a.task_id,
                "batch": a.batch,
                "state": a.state.value,
                "status": s.status.value if s else "",
                "termination": s.termination.value if s and s.termination else "",
                "reward": None if s is None or s.reward is None else s.reward.value,
                "feedback": a.session_id in fb,
                "started": s.started_at if s else None,
                "last_seen": a.last_seen_at,
                "has_session": s is not None,
            }
        )
    return rows


def admin_session_detail(study: Study, session_id: str) -> dict[str, Any] | None:
    a = study.assigner.by_session(session_id)
    if a is None:
        return None
    s = study.store.get_session(session_id)
    part = study.participant(a.participant_id)
    fbs = study.store.get_feedback([session_id]) if s is not None else []
    answers = []
    if fbs:
        f = fbs[0]
        for it in study.questionnaire.items:
            answers.append((it.prompt, f.answers.get(it.field)))
    visible = {m.idx for m in visible_messages(s.turns)} if s else set()
    return {
        "a": a,
        "s": s,
        "participant": part,
        "feedback": fbs[0] if fbs else None,
        "answers": answers,
        "visible": visible,
        "abandoned": s is not None and s.termination == Termination.ABANDONED,
    }


# Bidi embeddings, overrides and isolates (LRE, RLE, PDF, LRO, RLO, LRI, RLI, FSI, PDI): they are
# invisible and reorder the text after them ("#1" shows as "1#"), which lets a participant make a
# transcript read differently from what was stored. Marks (LRM, RLM) only nudge neutrals: kept.
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def bidi_visible(text: object) -> Markup:
    """Participant text for the admin pages: escaped, with each bidi control shown as a visible
    `U+202E` tag instead of acting (the admin sees what was typed, in the order it was typed).
    The element around it must still isolate it (`dir="auto"`), as every participant text
    does."""
    escaped = str(escape("" if text is None else str(text)))
    return Markup(
        _BIDI_CONTROLS.sub(
            lambda m: (
                f'<span class="bidi-ctl" title="invisible direction control">'
                f"U+{ord(m.group(0)):04X}</span>"
            ),
            escaped,
        )
    )
