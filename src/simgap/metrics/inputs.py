"""Score inputs ("sets"): where sessions come from and which of them to use.

A set is written `SOURCE[:KEY=VALUE[,KEY=VALUE...]]`:

* SOURCE: a store (an existing SQLite file such as `runs.db`, or a database URL), a simgap
  `.jsonl` export, a τ²-bench `results.json`, or the paper's tau-usi `.json`;
* filters: `user_kind=human|simulator`, `user=ID[+ID...]` (participant ids / simulator names),
  `batch=B[+B...]`, `domain=D`, `task=T[+T...]`, `agent=MODEL`; and `label=NAME`, the row's name.

Examples: `runs.db:user_kind=human,batch=b1+b2`, `runs.db:user=gpt-4o,label=GPT-4o`,
`people.jsonl`, `results/tau2_gpt41.json:label=tau2-gpt-4.1`.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from simgap.annotate.rules import RULES_ANNOTATOR
from simgap.errors import ConfigError
from simgap.metrics.table import failure_labels, is_synthetic_session, rules_annotations
from simgap.models import FAILURE_PREFIX, Annotation, FailureLabel, Feedback, Session, UserKind
from simgap.store import SessionFilter, Store
from simgap.store.importers import detect_format, read_any

FILTER_KEYS = ("user_kind", "user", "batch", "domain", "task", "agent", "label")
_SPLIT = re.compile(r"^(?P<source>.+?):(?P<filters>[a-z_]+=.*)$")


@dataclass(frozen=True)
class SetSpec:
    text: str
    source: str
    filters: dict[str, list[str]] = field(default_factory=dict)

    @property
    def label(self) -> str | None:
        v = self.filters.get("label")
        return v[0] if v else None

    @property
    def user_kind(self) -> UserKind | None:
        v = self.filters.get("user_kind")
        return UserKind(v[0]) if v else None


def parse_set_spec(text: str) -> SetSpec:
    """`runs.db:user_kind=human,batch=b1+b2` -> SetSpec; ConfigError names what is wrong."""
    text = text.strip()
    if not text:
        raise ConfigError("empty set: give a store, a .jsonl or a results .json file")
    m = _SPLIT.match(text)
    source, raw = (m.group("source"), m.group("filters")) if m else (text, "")
    filters: dict[str, list[str]] = {}
    for part in [p for p in raw.split(",") if p.strip()]:
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not value.strip():
            raise ConfigError(f"set {text!r}: filter {part!r} is not KEY=VALUE")
        if key not in FILTER_KEYS:
            raise ConfigError(
                f"set {text!r}: unknown filter {key!r} (use {', '.join(FILTER_KEYS)})"
            )
        values = [v.strip() for v in value.split("+") if v.strip()]
        if key == "user_kind" and values[0] not in ("human", "simulator"):
            raise ConfigError(f"set {text!r}: user_kind must be human or simulator")
        if key in ("user_kind", "domain", "agent", "label") and len(values) != 1:
            raise ConfigError(f"set {text!r}: {key} takes one value")
        filters[key] = values
    return SetSpec(text=text, source=source, filters=filters)


@dataclass
class LoadedSet:
    """Sessions of one set with what scoring reads next to them."""

    spec: SetSpec
    label: str
    sessions: list[Session]
    feedback: dict[str, list[Feedback]]
    annotations: dict[str, Annotation]  # session_id -> current-or-not rules session row
    # session_id -> stored failure label (rules or an LLM judge; `simgap annotate --failures`)
    failure_labels: dict[str, FailureLabel] = field(default_factory=dict)

    @property
    def user_ids(self) -> list[str]:
        return sorted({s.user_id for s in self.sessions})

    @property
    def synthetic(self) -> bool:
        return any(is_synthetic_session(s) for s in self.sessions)

    @property
    def kind(self) -> str:
        """What the set's users are: "people" (all human), "synthetic" (a labelled stand-in)
        or "simulator" (LLM simulators, e.g. a τ² results file used as a reference)."""
        return reference_kind(self.sessions)


def reference_kind(sessions: list[Session]) -> str:
    """ "synthetic" if any session is a labelled stand-in, "people" if every one is human,
    else "simulator": a reference that is never to be called people."""
    if any(is_synthetic_session(s) for s in sessions):
        return "synthetic"
    if all(s.user_kind == UserKind.HUMAN for s in sessions):
        return "people"
    return "simulator"


def _matches(s: Session, f: dict[str, list[str]]) -> bool:
    checks = {
        "user_kind": s.user_kind.value,
        "user": s.user_id,
        "batch": s.batch,
        "domain": s.domain,
        "task": s.task_id,
        "agent": s.agent.model,
    }
    return all(checks[k] in v for k, v in f.items() if k in checks)


def _is_store(source: str) -> bool:
    return "://" in source or Path(source).suffix.lower() not in (".jsonl", ".ndjson", ".json")


def _is_tau2_file(spec: SetSpec) -> bool:
    """A τ²-bench results file is one run of one simulator: used as a set it is taken whole
    (the default `user_kind=human` of a reference would select nothing from it)."""
    if _is_store(spec.source) or Path(spec.source).suffix.lower() != ".json":
        return False
    if not Path(spec.source).exists():
        return False
    return detect_format(spec.source) == "tau2"


def load_set(
    spec: SetSpec,
    *,
    default_kind: UserKind | None = None,
    survey_dirs: Sequence[str | Path] = (),
) -> LoadedSet:
    """Read a set's sessions (finished or not; scoring decides) with feedback and annotations.

    `default_kind` applies when the spec has no `user_kind` filter (references default to
    people, candidates to simulators); for a tau-usi file whose name and shape do not say
    whose sessions it holds, it also decides that. `survey_dirs`: more folders where the
    authors' `survey_comparable_<model>.json` may sit (`simgap score` adds the reference's).
    """
    filters = dict(spec.filters)
    filters.pop("label", None)
    if "user_kind" not in filters and default_kind is not None and not _is_tau2_file(spec):
        filters["user_kind"] = [default_kind.value]
    sessions: list[Session]
    feedback: dict[str, list[Feedback]] = defaultdict(list)
    annotations: list[Annotation] = []
    if _is_store(spec.source):
        if "://" not in spec.source and not Path(spec.source).exists():
            raise ConfigError(f"set {spec.text!r}: no such store {spec.source!r}")
        store = Store(spec.source)
        try:
            flt = SessionFilter(
                domain=filters.get("domain", [None])[0],
                user_kind=UserKind(filters["user_kind"][0]) if "user_kind" in filters else None,
                user_ids=filters.get("user", []),
                batches=filters.get("batch", []),
                task_ids=filters.get("task", []),
                agent_model=filters.get("agent", [None])[0],
            )
            sessions = list(store.iter_sessions(flt))
            ids = [s.session_id for s in sessions]
            for fb in store.get_feedback(ids):
                feedback[fb.session_id].append(fb)
            annotations = _session_rows(store, ids)
        finally:
            store.close()
    else:
        kind = UserKind(filters["user_kind"][0]) if "user_kind" in filters else None
        records = read_any(spec.source, default_kind=kind, survey_dirs=survey_dirs)
        sessions = [r for r in records if isinstance(r, Session) and _matches(r, filters)]
        keep = {s.session_id for s in sessions}
        for r in records:
            if isinstance(r, Feedback) and r.session_id in keep:
                feedback[r.session_id].append(r)
            elif isinstance(r, Annotation) and r.session_id in keep:
                annotations.append(r)
    label = spec.label or _default_label(sessions, spec)
    return LoadedSet(
        spec=spec,
        label=label,
        sessions=sessions,
        feedback=dict(feedback),
        annotations=rules_annotations(annotations),
        failure_labels=failure_labels(annotations),
    )


def _session_rows(store: Store, ids: list[str]) -> list[Annotation]:
    """The session-level `rules` annotations and failure labels of `ids`, without loading
    every turn's row."""
    from sqlalchemy import and_, or_, select

    from simgap.store import tables as t

    c = t.annotations.c
    out: list[Annotation] = []
    with store.engine.connect() as conn:
        for i in range(0, len(ids), 500):
            q = select(
                c.session_id,
                c.annotator,
                c.codebook_version,
                c.codes,
                c.features,
                c.meta,
                c.missing,
                c.created_at,
            ).where(
                and_(
                    or_(c.annotator == RULES_ANNOTATOR, c.annotator.like(f"{FAILURE_PREFIX}%")),
                    c.turn_idx == -1,
                    c.session_id.in_(ids[i : i + 500]),
                )
            )
            for r in conn.execute(q):
                out.append(
                    Annotation(
                        session_id=r.session_id,
                        annotator=r.annotator,
                        codebook_version=r.codebook_version or "",
                        codes=r.codes or {},
                        features=r.features or {},
                        meta=r.meta or {},
                        missing=bool(r.missing),
                        created_at=_aware(r.created_at),
                    )
                )
    return out


def _aware(dt: datetime | None) -> datetime:
    if dt is None:
        return datetime.now(UTC)
    return dt if dt.tzinfo is not None else dt.replace(tzinfo=UTC)


def _default_label(sessions: list[Session], spec: SetSpec) -> str:
    users = sorted({s.user_id for s in sessions})
    if len(users) == 1:
        return users[0]
    return Path(spec.source).stem if "://" not in spec.source else spec.source


def split_by_user(ls: LoadedSet) -> list[LoadedSet]:
    """A candidate set without a label that holds several simulators becomes one row each."""
    if ls.spec.label or len(ls.user_ids) <= 1:
        return [ls]
    out: list[LoadedSet] = []
    for uid in ls.user_ids:
        ss = [s for s in ls.sessions if s.user_id == uid]
        ids = {s.session_id for s in ss}
        out.append(
            LoadedSet(
                spec=ls.spec,
                label=uid,
                sessions=ss,
                feedback={k: v for k, v in ls.feedback.items() if k in ids},
                annotations={k: v for k, v in ls.annotations.items() if k in ids},
                failure_labels={k: v for k, v in ls.failure_labels.items() if k in ids},
            )
        )
    return out
