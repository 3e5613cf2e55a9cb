"""Shared helpers for importers: reading JSON with errors that name the file, line and field."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from simgap.errors import SimgapError


class ImportFormatError(SimgapError, ValueError):
    """A foreign file that cannot be imported; str() is one line naming file and field."""


def load_json(path: str | Path) -> Any:
    """Parse a JSON file; syntax errors name the line and column."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ImportFormatError(f"{p}: cannot open ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ImportFormatError(f"{p}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ImportFormatError(
            f"{p}:{e.lineno}: not valid JSON ({e.msg} at column {e.colno})"
        ) from None


def need(obj: Any, key: str, kind: type | tuple[type, ...], *, path: Path, where: str) -> Any:
    """obj[key], checked to be of `kind`; otherwise an error naming `where.key`."""
    if not isinstance(obj, dict):
        raise ImportFormatError(f"{path}: {where}: expected an object, got {type(obj).__name__}")
    if key not in obj or obj[key] is None:
        raise ImportFormatError(f"{path}: {where}.{key}: missing")
    value = obj[key]
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ImportFormatError(
            f"{path}: {where}.{key}: expected {names}, got {type(value).__name__}"
        )
    return value


def parse_time(
    value: Any, *, path: Path, where: str, naive_is_local: bool = False
) -> datetime | None:
    """ISO-8601 text -> aware UTC datetime; None stays None.

    A time without a zone is taken as UTC, or with `naive_is_local` as this machine's local
    time (τ²-bench writes `datetime.now().isoformat()`: the local time of the machine that ran
    it, without a zone; importing on that machine, or with its `TZ`, reads it back exactly).
    """
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ImportFormatError(f"{path}: {where}: expected an ISO time string")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ImportFormatError(f"{path}: {where}: {value!r} is not an ISO time") from None
    if dt.tzinfo is not None:
        return dt.astimezone(UTC)
    return dt.astimezone(UTC) if naive_is_local else dt.replace(tzinfo=UTC)


def optional(
    obj: dict[str, Any], key: str, kind: type | tuple[type, ...], *, path: Path, where: str
) -> Any:
    """obj[key] when present and not null, checked to be of `kind` (bool is never a number);
    None when absent or null; otherwise an error naming `where.key` and the value."""
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ImportFormatError(f"{path}: {where}.{key}: expected {names}, got {value!r:.60}")
    return value
