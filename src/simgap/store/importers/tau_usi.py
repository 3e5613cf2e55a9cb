"""The paper's released data (Hugging Face `cmu-lti/tau-usi`, gated) -> sessions + feedback.

The dataset card is behind a login; this importer follows the files and record layout the
authors' public scorer reads (sunnweiwei/OdysSim `agents/tau_usi/usi_metric.py` and
`run_eval.py`), so a folder laid out for that scorer is read without flags:

* `tau_bench_tasks_unified.json`: the people, `{instance_id: entry}`; `instance_id` is
  `<domain>_<task index>`, a suffix `_ann2` / `_ann3` marks the second / third person on the
  task (batch b2 / b3; no suffix = b1);
* `<model>_task_results.json` (the rollout output, `{"results": [entry, ...]}` with
  `instance_id` inside each entry) and `eval_results_<model>.json` (`{instance_id: entry}`):
  one simulator's runs, named `<model>` from the file name as the scorer names them; a suffix
  `_1` / `_2` / `_3` on the instance id is the run (trial 0 / 1 / 2);
* `survey_comparable_<model>.json`: that simulator's questionnaire answers,
  `{instance_id: {"survey": ...}}`, one per reference batch (no suffix / `_ann2` / `_ann3`);
  the scorer pairs the k-th of them with the k-th batch of people, so they are joined to the
  simulator's trial k-1 (a survey without a conversation becomes a `survey_only` session that
  counts only for Eval). Looked for next to the runs, in `survey_data/` beside them or one
  level up, and in the folders the caller adds (`simgap score` adds the reference's folder).
  When found it replaces the surveys inside the runs file, as the scorer reads only it;
* `survey_comparable_human-eval-100.json`: a second person's answers on batch-1
  conversations (the scorer's human-ceiling Eval), joined to the people's b1 sessions as
  feedback of respondent `human-eval-100` with `meta.second_rater`.

Entries: `conversation` `[{role: user|assistant|system, content}]` (system = tool output),
`survey` `{field: {"answer": "<option text>"}}`, `reward` (the paper counts reward > 0 as
success), `keep` (falsy = excluded by the authors: imported as a failed session with
`meta.keep = false`, so it is kept but never scored).

Other files of that layout are not sessions and get a one-line error saying what they are:
the scorer's `<label>_aggregate_metrics.json`, the frozen `tau_usi_difficulty.json` (pass it
with `--difficulty`), a survey file given on its own.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
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
PEOPLE_STEM = "tau_bench_tasks_unified"
SURVEY_PREFIX = "survey_comparable_"
SECOND_RATER = "human-eval-100"


@dataclass(frozen=True)
class LayoutName:
    """What a file of the authors' layout is, judged by its name."""

    kind: str  # "people" | "simulator" | "survey" | "aggregate" | "difficulty"
    model: str | None = None


def classify_name(path: Path) -> LayoutName | None:
    """The role a file plays in the authors' layout, from its name alone (None: unknown)."""
    stem = path.stem
    if stem.startswith(SURVEY_PREFIX):
        return LayoutName("survey", stem[len(SURVEY_PREFIX) :])
    if stem.endswith("_aggregate_metrics"):
        return LayoutName("aggregate", stem.removesuffix("_aggregate_metrics"))
    if stem == "tau_usi_difficulty":
        return LayoutName("difficulty")
    if stem.startswith("eval_results_"):
        return LayoutName("simulator", stem.removeprefix("eval_results_") or stem)
    if stem.endswith("_task_results"):
        return LayoutName("simulator", stem.removesuffix("_task_results") or stem)
    if stem.startswith(PEOPLE_STEM):
        return LayoutName("people")
    return None


def _is_numbers_map(x: Any) -> bool:
    return (
        isinstance(x, dict)
        and bool(x)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in x.values())
    )


def layout_error(path: Path, data: Any) -> str | None:
    """One line saying why a file of the layout holds no sessions, or None if it may."""
    name = classify_name(path)
    kind = name.kind if name else None
    if kind is None and isinstance(data, dict):
        if "human_inter_annotator" in data and "model" in data:
            kind = "aggregate"
        elif _is_numbers_map(data.get("difficulty")):
            kind = "difficulty"
        elif (
            data
            and all(isinstance(v, dict) for v in data.values())
            and all("survey" in v and "conversation" not in v for v in data.values())
        ):
            kind = "survey"
    if kind == "aggregate":
        return (
            f"{path}: the tau-usi scorer's output (aggregate metrics), not sessions; score the "
            "runs it was computed from (<model>_task_results.json)"
        )
    if kind == "difficulty":
        return f"{path}: a frozen task-difficulty map, not sessions; pass it with --difficulty"
    if kind == "survey":
        model = name.model if name and name.model else "<model>"
        if model == SECOND_RATER:
            return (
                f"{path}: second-rater answers on batch-1 conversations, not sessions; they are "
                f"joined to {PEOPLE_STEM}.json in the same folder (or its parent) automatically"
            )
        return (
            f"{path}: survey answers only (no conversations); they are joined automatically to "
            f"{model}_task_results.json or eval_results_{model}.json: score that file"
        )
    return None


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
) -> tuple[dict[str, int | str | None], dict[str, Any]]:
    """Survey texts -> canonical questionnaire answers, and what to record about them.

    Unknown texts count as missing (as in the authors' scorer) and are listed under
    `unmapped` so they are visible. A Likert answer simgap can read but that is not the
    scorer's exact option text (`"4"` for `"4 (Good)"`) is kept and listed under `inexact`:
    the paper scorer (`simgap score --paper`) treats it as blank, as the authors' code does.
    """
    q = load_questionnaire("usi")
    answers: dict[str, int | str | None] = {}
    unmapped: list[str] = []
    inexact: list[str] = []
    if survey is None:
        return answers, {}
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
                if not isinstance(raw, str) or raw not in _likert_labels(item.field):
                    inexact.append(item.field)
        elif str(raw) in item.options:
            value = str(raw)
        try:
            answers[item.field] = item.validate_answer(value) if value is not None else None
        except ValueError:
            value = None
        if value is None:
            unmapped.append(f"{item.field}={raw!r}")
            answers.pop(item.field, None)
            if item.field in inexact:
                inexact.remove(item.field)
    meta: dict[str, Any] = {}
    if unmapped:
        meta["unmapped"] = unmapped
    if inexact:
        meta["inexact"] = inexact
    return answers, meta


def _likert_labels(field: str) -> set[str]:
    """The scorer's exact option texts of a Likert field (`"4 (Good)"`)."""
    q = load_questionnaire("usi")
    item = next(i for i in q.scored_items if i.field == field)
    if field == "overall_score":
        names = ("Very poor", "Poor", "Acceptable", "Good", "Excellent")
        return {f"{i} ({n})" for i, n in enumerate(names, start=1)}
    assert item.scale_min is not None and item.scale_max is not None
    return {str(v) for v in range(item.scale_min, item.scale_max + 1)}


def _search_dirs(path: Path, extra: Iterable[Path]) -> list[Path]:
    out: list[Path] = []
    base = [path.parent, path.parent / "survey_data", path.parent.parent / "survey_data"]
    for d in [*base, *(x for e in extra for x in (Path(e), Path(e) / "survey_data"))]:
        if d not in out:
            out.append(d)
    return out


def find_survey_file(path: Path, model: str, extra_dirs: Iterable[Path] = ()) -> Path | None:
    """`survey_comparable_<model>.json` for the runs in `path`, where the scorer's layout
    keeps it (next to the runs, `survey_data/` beside or above them, or the given folders)."""
    for d in _search_dirs(path, extra_dirs):
        cand = d / f"{SURVEY_PREFIX}{model}.json"
        if cand.is_file():
            return cand
    return None


def _survey_entries(path: Path) -> list[tuple[str, Any, str]]:
    """(instance id, survey, where) of a `survey_comparable_*.json` file, in file order."""
    data = load_json(path)
    if not isinstance(data, dict):
        raise ImportFormatError(f"{path}: expected an object {{instance_id: {{survey}}}}")
    out = []
    for iid, e in data.items():
        where = f"[{iid!r}]"
        if not isinstance(e, dict):
            raise ImportFormatError(f"{path}: {where}: expected an object")
        out.append((str(iid), e.get("survey"), where))
    return out


def _turns(conv: list[Any], *, path: Path, w: str) -> list[Turn]:
    turns: list[Turn] = []
    for j, msg in enumerate(conv):
        role = need(msg, "role", str, path=path, where=f"{w}.conversation[{j}]")
        if role not in _ROLES:
            raise ImportFormatError(f"{path}: {w}.conversation[{j}].role: unknown role {role!r}")
        content = msg.get("content")
        turns.append(
            Turn(
                idx=len(turns), role=_ROLES[role], content=None if content is None else str(content)
            )
        )
    return turns


def _kind(
    path: Path, data: Any, user_kind: UserKind | None, default_kind: UserKind | None
) -> UserKind:
    if user_kind is not None:
        return user_kind
    name = classify_name(path)
    if name is not None and name.kind == "simulator":
        return UserKind.SIMULATOR
    if name is not None and name.kind == "people":
        return UserKind.HUMAN
    if default_kind is not None:
        return default_kind
    # The rollout writes {"results": [...]}: a simulator's runs; a bare object holds people.
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        return UserKind.SIMULATOR
    return UserKind.HUMAN


def read_tau_usi(
    path: str | Path,
    *,
    user_kind: UserKind | None = None,
    user_id: str | None = None,
    default_kind: UserKind | None = None,
    survey_dirs: Sequence[str | Path] = (),
) -> list[Session | Feedback]:
    """Sessions (with turns) and their survey answers from one tau-usi JSON file.

    `user_kind` forces whose sessions they are; otherwise the file name decides
    (`*_task_results.json`, `eval_results_*.json`: a simulator; the unified file: people),
    then `default_kind` (what the caller expects, e.g. a score reference), then the shape.
    `survey_dirs`: more folders to look for `survey_comparable_*.json` in.
    """
    p = Path(path)
    data = load_json(p)
    why = layout_error(p, data)
    if why is not None:
        raise ImportFormatError(why)
    if not looks_like_tau_usi(data):
        raise ImportFormatError(
            f"{p}: not a tau-usi file (expected {{instance_id: {{conversation, survey, reward}}}})"
        )
    kind = _kind(p, data, user_kind, default_kind)
    name = classify_name(p)
    sim_name = user_id or (name.model if name and name.model else None) or p.stem
    extra = [Path(d) for d in survey_dirs]
    survey_file = (
        find_survey_file(p, sim_name, extra)
        if kind == UserKind.SIMULATOR
        else find_survey_file(p, SECOND_RATER, extra)
    )
    sessions: list[Session] = []
    feedback: list[Feedback] = []
    for iid, e in _entries(data, p):
        w = f"[{iid!r}]"
        m = _INSTANCE.match(iid)
        if not m:
            raise ImportFormatError(
                f"{p}: {w}: instance id {iid!r} is not '<domain>_<task>[_annN][_run]'"
            )
        turns = _turns(need(e, "conversation", list, path=p, where=w), path=p, w=w)
        reward_raw = e.get("reward", 0) or 0
        if not isinstance(reward_raw, int | float):
            raise ImportFormatError(f"{p}: {w}.reward: expected a number")
        keep = bool(e.get("keep", True))  # the scorer drops any falsy keep
        if kind == UserKind.HUMAN:
            batch = f"b{m.group('ann') or 1}"
            trial = 0
            uid = str(e.get("user_id") or e.get("participant_id") or f"participant:{iid}")
            sid = f"tau-usi:human:{iid}"
        else:
            batch = "tau-usi"
            trial = int(m.group("run")) - 1 if m.group("run") else 0
            uid = sim_name
            sid = f"tau-usi:{sim_name}:{iid}"
        sessions.append(
            Session(
                session_id=sid,
                task_id=m.group("task"),
                domain=m.group("domain"),
                user_kind=kind,
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
                    **({} if keep else {"keep": False}),
                },
            )
        )
        inline_used = survey_file is None or kind == UserKind.HUMAN
        if e.get("survey") is not None and inline_used:
            answers, meta = _answers(e.get("survey"), path=p, where=f"{w}.survey")
            feedback.append(
                Feedback(
                    session_id=sid,
                    respondent_kind=kind,
                    respondent_id=uid,
                    answers=answers,
                    meta={"source": "tau-usi", **meta},
                )
            )
    if survey_file is not None and kind == UserKind.SIMULATOR:
        feedback += _join_simulator_surveys(survey_file, sessions, sim_name)
    elif survey_file is not None:
        feedback += _join_second_rater(survey_file, sessions)
    return [*sessions, *feedback]


def _join_simulator_surveys(path: Path, sessions: list[Session], uid: str) -> list[Feedback]:
    """The k-th survey of a task (no suffix, `_ann2`, `_ann3`) -> the simulator's trial k-1
    on it; a survey without such a session gets a `survey_only` session (Eval only)."""
    by_key = {(s.domain, s.task_id, s.trial): s for s in sessions}
    out: list[Feedback] = []
    for iid, survey, where in _survey_entries(path):
        m = _INSTANCE.match(iid)
        if not m or m.group("run"):
            raise ImportFormatError(
                f"{path}: {where}: instance id {iid!r} is not '<domain>_<task>[_annN]'"
            )
        trial = int(m.group("ann")) - 1 if m.group("ann") else 0
        key = (m.group("domain"), m.group("task"), trial)
        sess = by_key.get(key)
        if sess is None:
            sess = Session(
                session_id=f"tau-usi:{uid}:{m.group('domain')}_{m.group('task')}:survey{trial + 1}",
                task_id=m.group("task"),
                domain=m.group("domain"),
                user_kind=UserKind.SIMULATOR,
                user_id=uid,
                batch="tau-usi",
                trial=trial,
                status=SessionStatus.DONE,
                meta={"source": "tau-usi", "instance_id": iid, "survey_only": True},
            )
            by_key[key] = sess
            sessions.append(sess)
        answers, meta = _answers(survey, path=path, where=f"{where}.survey")
        out.append(
            Feedback(
                session_id=sess.session_id,
                respondent_kind=UserKind.SIMULATOR,
                respondent_id=uid,
                answers=answers,
                meta={"source": "tau-usi", "survey_file": path.name, **meta},
            )
        )
    return out


def _join_second_rater(path: Path, sessions: list[Session]) -> list[Feedback]:
    """A second person's answers on a b1 conversation -> feedback on that session, with its
    position in the file (the scorer draws blank answers in file order)."""
    b1 = {s.meta.get("instance_id"): s for s in sessions if s.batch == "b1"}
    out: list[Feedback] = []
    for order, (iid, survey, where) in enumerate(_survey_entries(path)):
        sess = b1.get(iid)
        if sess is None:
            continue  # the scorer ignores answers on conversations it does not have
        answers, meta = _answers(survey, path=path, where=f"{where}.survey")
        out.append(
            Feedback(
                session_id=sess.session_id,
                respondent_kind=UserKind.HUMAN,
                respondent_id=SECOND_RATER,
                answers=answers,
                meta={
                    "source": "tau-usi",
                    "survey_file": path.name,
                    "second_rater": True,
                    "order": order,
                    **meta,
                },
            )
        )
    return out
