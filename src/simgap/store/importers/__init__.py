"""Importers of foreign formats: simgap JSONL, τ²-bench results.json, the paper's tau-usi data.

`read_any(path, fmt)` is what `simgap import` and `simgap score` use: it returns records only
when the whole file is valid, and otherwise raises a one-line `ImportFormatError` /
`RecordError` naming the file and the line or field.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simgap.models import Annotation, Feedback, Session, UserKind, load_jsonl
from simgap.store.importers.common import ImportFormatError, load_json
from simgap.store.importers.tau2_results import looks_like_tau2, read_tau2_results
from simgap.store.importers.tau_usi import layout_error, looks_like_tau_usi, read_tau_usi

FORMATS = ("auto", "jsonl", "tau2", "tau-usi")

__all__ = [
    "FORMATS",
    "ImportFormatError",
    "detect_format",
    "read_any",
    "read_tau2_results",
    "read_tau_usi",
]


def detect_format(path: str | Path) -> str:
    """jsonl by extension; a .json file by its top-level shape (τ² results or tau-usi)."""
    p = Path(path)
    if p.suffix.lower() in (".jsonl", ".ndjson"):
        return "jsonl"
    if p.suffix.lower() == ".json":
        data = load_json(p)
        if looks_like_tau2(data):
            return "tau2"
        why = layout_error(p, data)  # the authors' layout: scorer output, surveys, difficulty
        if why is not None:
            raise ImportFormatError(why)
        if looks_like_tau_usi(data):
            return "tau-usi"
        raise ImportFormatError(
            f"{p}: unrecognised JSON (neither a τ²-bench results file nor tau-usi data)"
        )
    raise ImportFormatError(
        f"{p}: unknown file type {p.suffix or '(none)'!r}; use .jsonl, a τ² results .json "
        "or tau-usi .json, or pass --format"
    )


def read_any(
    path: str | Path,
    fmt: str = "auto",
    *,
    default_kind: UserKind | None = None,
    survey_dirs: Sequence[str | Path] = (),
) -> list[Session | Feedback | Annotation]:
    """All records of a file in any supported format (all or nothing).

    For tau-usi data, `default_kind` says whose sessions a file is when neither its name nor
    its shape tells, and `survey_dirs` adds folders to look for `survey_comparable_*.json` in.
    """
    p = Path(path)
    if fmt not in FORMATS:
        raise ImportFormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not p.exists():
        raise ImportFormatError(f"{p}: no such file")
    kind = detect_format(p) if fmt == "auto" else fmt
    if kind == "jsonl":
        return load_jsonl(p)
    if kind == "tau2":
        return list(read_tau2_results(p))
    return list(read_tau_usi(p, default_kind=default_kind, survey_dirs=survey_dirs))
