"""JSONL interchange: one typed record per line, with errors that name the file and line.

A line is `{"record": "session" | "feedback" | "annotation", ...fields}`. Sessions carry their
turns inline, so one file is a complete, portable copy of a study or a sweep.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from simgap.errors import SimgapError
from simgap.models.annotation import Annotation
from simgap.models.feedback import Feedback
from simgap.models.session import Session


class SessionRecord(Session):
    record: Literal["session"] = "session"


class FeedbackRecord(Feedback):
    record: Literal["feedback"] = "feedback"


class AnnotationRecord(Annotation):
    record: Literal["annotation"] = "annotation"


Record = Annotated[SessionRecord | FeedbackRecord | AnnotationRecord, Field(discriminator="record")]
_RECORD = TypeAdapter(Record)


class RecordError(SimgapError, ValueError):
    """A bad line in an input file; str() is one line naming file, line and field."""


def to_record(
    obj: Session | Feedback | Annotation,
) -> SessionRecord | FeedbackRecord | AnnotationRecord:
    if isinstance(obj, Session):
        return SessionRecord.model_validate(obj.model_dump())
    if isinstance(obj, Feedback):
        return FeedbackRecord.model_validate(obj.model_dump())
    return AnnotationRecord.model_validate(obj.model_dump())


def from_record(rec: BaseModel) -> Session | Feedback | Annotation:
    data = rec.model_dump(exclude={"record"})
    if isinstance(rec, SessionRecord):
        return Session.model_validate(data)
    if isinstance(rec, FeedbackRecord):
        return Feedback.model_validate(data)
    return Annotation.model_validate(data)


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(record)"
    more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
    return f"field {loc}: {first['msg']}{more}"


def parse_line(
    line: str, *, path: str | Path = "<input>", lineno: int = 0
) -> Session | Feedback | Annotation:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as e:
        raise RecordError(
            f"{path}:{lineno}: not valid JSON ({e.msg} at column {e.colno})"
        ) from None
    if not isinstance(data, dict):
        raise RecordError(f"{path}:{lineno}: expected a JSON object, got {type(data).__name__}")
    data.setdefault("record", "session")
    try:
        rec = _RECORD.validate_python(data)
    except ValidationError as e:
        raise RecordError(f"{path}:{lineno}: {_describe(e)}") from None
    return from_record(rec)


def read_jsonl(path: str | Path) -> Iterator[Session | Feedback | Annotation]:
    """Yield records lazily; the first bad line raises RecordError with its number."""
    p = Path(path)
    try:
        fh = p.open(encoding="utf-8")
    except OSError as e:
        raise RecordError(f"{p}: cannot open ({e.strerror})") from None
    with fh:
        for lineno, line in enumerate(fh, start=1):
            if line.strip():
                yield parse_line(line, path=p, lineno=lineno)


def load_jsonl(path: str | Path) -> list[Session | Feedback | Annotation]:
    """Read a whole file, validating every line before returning anything (all or nothing)."""
    return list(read_jsonl(path))


def dump_line(obj: Session | Feedback | Annotation) -> str:
    return to_record(obj).model_dump_json()


def write_jsonl(path: str | Path, records: Iterable[Session | Feedback | Annotation]) -> int:
    """Write atomically (temp file + rename) so a crash never leaves half a file. Returns count."""
    p = Path(path)
    if p.is_dir():
        raise SimgapError(f"{p}: is a folder; give a file name to write")
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=p.parent, prefix=f".{p.name}.", suffix=".tmp")
    except OSError as e:
        raise SimgapError(f"{p}: cannot write ({e.strerror})") from None
    n = 0
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for r in records:
                fh.write(dump_line(r))
                fh.write("\n")
                n += 1
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, p)
    except BaseException as e:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(e, OSError):
            raise SimgapError(f"{p}: cannot write ({e.strerror})") from None
        raise
    return n
