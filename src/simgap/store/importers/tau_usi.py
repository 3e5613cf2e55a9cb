"""The paper's released data (Hugging Face `cmu-lti/tau-usi`, gated) -> sessions + feedback.

The dataset card is behind a login; this importer follows the record layout the authors'
public scorer reads (sunnweiwei/OdysSim `agents/tau_usi/usi_metric.py`):

* a JSON object `{instance_id: entry}` (or `{"results": [entry, ...]}` with `instance_id`
  inside each entry, the scorer's `*_task_results.json`);
* `instance_id` is `<domain>_<task index>`; in the human file a suffix `_ann2` / `_ann3` marks
  the second / third person on the task (batch b2 / b3, no suffix = b1); in a simulator's
  `eval_results_<model>.json` a suffix `_1` / `_2` / `_3` is the run (trial);
* `entry.conversation`: `[{role: user|assistant|system, content}]` (system = tool output);
* `entry.survey`: `{field: {"answer": "<option text>"}}` with the eight USI fields;
* `entry.reward` (τ reward; the paper counts reward > 0 as success), `entry.keep` (false =
  excluded by the authors; imported as a failed session so it is kept but never scored).

Which file is the people's: `user_kind` if given, else a file named `eval_results_<model>.json`
is a simulator called `<model>` and anything else holds people.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from simgap.models import (
    Feedback,
    ItemKind,
    Reward,
    Role,
    Session,
    SessionStatus,
    Turn,
    UserKind,
    load_questionnaire,
)
from simgap.store.importers.common import ImportFormatError, load_json, need

_INSTANCE = re.compile(r"^(?P<domain>[a-z]+)_(?P<task>\d+)(?:_ann(?P<ann>\d+))?(?:_(?P<run>\d+))?$")
_LIKERT_TEXT = re.compile(r"^\s*(\d+)\b")
_ROLES = {"user": Role.USER, "assistant": Role.AGENT, "system": Role.TOOL, "tool": Role.TOOL}
NO_ANSWER = "no answer"


def looks_like_tau_usi(data: Any) -> bool:
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return True
    return (
        isinstance(data, dict)
        and bool(data)
        and all(isinstance(v, dict) and "conversation" in v for v in data.values())
    )


def _entries(data: Any, path: Path) -> list[tuple[str, dict[str, Any]]]:
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        out = []
        for i, r in enumerate(data["results"]):
            iid = r.get("instance_id") if isinstance(r, dict) else None
            if iid is None and isinstance(r, dict) and "domain" in r and "task_index" in r:
                iid = f"{r['domain']}_{r['task_index']}"
            if not isinstance(iid, str):
                raise ImportFormatError(f"{path}: results[{i}].instance_id: missing")
            out.append((iid, r))
        return out
    if not isinstance(data, dict):
        raise ImportFormatError(f"{path}: expected a JSON object of tau-usi entries")
    return [(str(k), v) for k, v in data.items()]


def _answers(
    survey: Any, *, path: Path, where: str
) -> tuple[dict[str, int | str | None], list[str]]:
    """Survey texts -> canonical questionnaire answers; unknown texts count as missing (as in
    the authors' scorer) and are listed so they are visible."""
    q = load_questionnaire("usi")
    answers: dict[str, int | str | None] = {}
    unmapped: list[str] = []
    if survey is None:
        return answers, unmapped
    if not isinstance(survey, dict):
        raise ImportFormatError(f"{path}: {where}: expected an object")
    for item in q.scored_items:
        raw = survey.get(item.field)
        if isinstance(raw, dict):
            raw = raw.get("answer")
        if raw is None or (isinstance(raw, str) and raw.strip().lower() == NO_ANSWER):
            continue
        value: int | str | None = None
        if item.kind == ItemKind.LIKERT:
            m = _LIKERT_TEXT.match(str(raw))
            if m:
                value = int(m.group(1))
        elif str(raw) in item.options:
            value = str(raw)
        try:
            answers[item.field] = item.validate_answer(value) if value is not None else None
        except ValueError:
            value = None
        if value is None:
            unmapped.append(f"{item.field}={raw!r}")
            answers.pop(item.field, None)
    return answers, unmapped


def read_tau_usi(
    path: str | Path,
    *,
    user_kind: UserKind | None = None,
    user_id: str | None = None,
) -> list[Session | Feedback]:
    """Sessions (with turns) and their survey answers from one tau-usi JSON file."""
    p = Path(path)
    data = load_json(p)
    if not looks_like_tau_usi(data):
        raise ImportFormatError(
            f"{p}: not a tau-usi file (expected {{instance_id: {{conversation, survey, reward}}}})"
        )
    stem = p.stem
    if user_kind is None:
        user_kind = UserKind.SIMULATOR if stem.startswith("eval_results_") else UserKind.HUMAN
    sim_name = user_id or (stem.removeprefix("eval_results_") or stem)
    out: list[Session | Feedback] = []
    for iid, e in _entries(data, p):
        w = f"[{iid!r}]"
        m = _INSTANCE.match(iid)
        if not m:
            raise ImportFormatError(
                f"{p}: {w}: instance id {iid!r} is not '<domain>_<task>[_annN][_run]'"
            )
        conv = need(e, "conversation", list, path=p, where=w)
        turns: list[Turn] = []
        for j, msg in enumerate(conv):
            role = need(msg, "role", str, path=p, where=f"{w}.conversation[{j}]")
            if role not in _ROLES:
                raise ImportFormatError(f"{p}: {w}.conversation[{j}].role: unknown role {role!r}")
            content = msg.get("content")
            turns.append(
                Turn(
                    idx=len(turns),
                    role=_ROLES[role],
                    content=None if content is None else str(content),
                )
            )
        reward_raw = e.get("reward", 0) or 0
        if not isinstance(reward_raw, int | float):
            raise ImportFormatError(f"{p}: {w}.reward: expected a number")
        keep = e.get("keep", True) is not False
        if user_kind == UserKind.HUMAN:
            batch = f"b{m.group('ann') or 1}"
            trial = 0
            uid = str(e.get("user_id") or e.get("participant_id") or f"participant:{iid}")
            sid = f"tau-usi:human:{iid}"
        else:
            batch = "tau-usi"
            trial = int(m.group("run")) - 1 if m.group("run") else 0
            uid = sim_name
            sid = f"tau-usi:{sim_name}:{iid}"
        out.append(
            Session(
                session_id=sid,
                task_id=m.group("task"),
                domain=m.group("domain"),
                user_kind=user_kind,
                user_id=uid,
                batch=batch,
                trial=trial,
                status=SessionStatus.DONE if keep else SessionStatus.FAILED,
                error=None if keep else "excluded in the released data (keep=false)",
                # The paper counts any positive reward as success.
                reward=Reward(value=1.0 if reward_raw > 0 else 0.0, info={"raw": reward_raw}),
                turns=turns,
                meta={
                    "source": "tau-usi",
                    "instance_id": iid,
                    "termination_reason": e.get("termination_reason"),
                },
            )
        )
        if e.get("survey") is not None:
            answers, unmapped = _answers(e.get("survey"), path=p, where=f"{w}.survey")
            out.append(
                Feedback(
                    session_id=sid,
                    respondent_kind=user_kind,
                    respondent_id=uid,
                    answers=answers,
                    meta={"source": "tau-usi", **({"unmapped": unmapped} if unmapped else {})},
                )
            )
    return out
