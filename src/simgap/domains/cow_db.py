"""A session's τ² database as copy-on-access tables over the process's pristine database.

A session touches a handful of the domain's records (airline: 2,800 records, 3.4 MB of JSON),
yet a plain environment copies all of them (~10⁵ Python objects, ~0.1 s, and as much again
for the garbage collector to traverse while the session lives), and τ²'s database hash dumps
all of them again at the end (~0.1 s). Here each table of the session's database is a
`CowTable`: a dict that starts out holding the pristine records and hands out a private copy
of a record the first time Python code reaches it (`table[key]`, `.get`, `.values()`,
`.items()`, `.pop`, ...), which is how τ²'s tools reach records. The hash is then τ²'s exact
`get_db_hash` text (`json.dumps(db.model_dump(), sort_keys=True, default=str)`, sha256),
assembled from the pristine records' texts (computed once per process) and fresh dumps of the
records the session reached.

Safety: the pristine records are only ever *read* through paths that bypass the overrides (C
code such as pydantic's serializer or `dict.__eq__`), which gives the right content because a
record is unchanged until Python code reaches it, and reaching it replaces it with a copy
first. `cow_db_hash` is checked against τ²'s own `get_db_hash` in tests/domains; any shape it
does not know (a non-dict field, a record of another type) makes it return None, and the caller
hashes the τ² way.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import threading
import typing
from collections.abc import Iterable, Iterator
from typing import Any

_MISSING = object()


def _copy(value: Any) -> Any:
    return pickle.loads(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


class CowTable(dict[str, Any]):
    """One table of a session's database (see the module docstring)."""

    __slots__ = ("_owned",)

    def __init__(self, pristine: dict[str, Any]) -> None:
        super().__init__(pristine)
        self._owned: set[str] = set()

    def _own(self, key: str) -> Any:
        if key not in self._owned:
            dict.__setitem__(self, key, _copy(dict.__getitem__(self, key)))
            self._owned.add(key)
        return dict.__getitem__(self, key)

    @property
    def owned(self) -> frozenset[str]:
        """Keys whose value may differ from the pristine record (copied, set or replaced)."""
        return frozenset(self._owned)

    def __getitem__(self, key: str) -> Any:
        if not dict.__contains__(self, key):
            raise KeyError(key)
        return self._own(key)

    def get(self, key: str, default: Any = None) -> Any:
        return self._own(key) if dict.__contains__(self, key) else default

    def values(self) -> list[Any]:  # type: ignore[override]
        return [self._own(k) for k in list(dict.keys(self))]

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return [(k, self._own(k)) for k in list(dict.keys(self))]

    def __setitem__(self, key: str, value: Any) -> None:
        dict.__setitem__(self, key, value)
        self._owned.add(key)

    def __delitem__(self, key: str) -> None:
        dict.__delitem__(self, key)
        self._owned.discard(key)

    def pop(self, key: str, default: Any = _MISSING) -> Any:
        if dict.__contains__(self, key):
            value = self._own(key)
            del self[key]
            return value
        if default is _MISSING:
            raise KeyError(key)
        return default

    def popitem(self) -> tuple[str, Any]:
        key = next(reversed(list(dict.keys(self))))
        return key, self.pop(key)

    def setdefault(self, key: str, default: Any = None) -> Any:
        if dict.__contains__(self, key):
            return self._own(key)
        self[key] = default
        return default

    def update(self, *args: Any, **kwargs: Any) -> None:
        for k, v in dict(*args, **kwargs).items():
            self[k] = v

    def clear(self) -> None:
        dict.clear(self)
        self._owned.clear()

    def copy(self) -> dict[str, Any]:
        return dict(self.items())

    def __iter__(self) -> Iterator[str]:
        return iter(list(dict.keys(self)))

    def __reduce__(self) -> tuple[Any, ...]:
        return (dict, (dict(self.items()),))

    def __copy__(self) -> dict[str, Any]:
        return self.copy()

    def __deepcopy__(self, memo: dict[int, Any]) -> dict[str, Any]:
        return {k: _copy(v) for k, v in self.items()}


class _TableText:
    """One pristine table's JSON text, `{"k1": {...}, "k2": {...}}` without its braces, as
    bytes, with where each record's `"key": {...}` piece starts and ends: a session's table
    text is this with the pieces of the records it reached swapped, streamed into the hash
    without rebuilding the megabytes around them."""

    __slots__ = ("blob", "ends", "pos", "starts")

    def __init__(self, texts: dict[str, str]) -> None:
        keys = sorted(texts)
        pieces = [_piece(k, texts[k]).encode() for k in keys]
        self.pos = {k: i for i, k in enumerate(keys)}
        self.starts: list[int] = []
        self.ends: list[int] = []
        at = 0
        for i, piece in enumerate(pieces):
            at += 2 if i else 0  # the ", " before every piece but the first
            self.starts.append(at)
            at += len(piece)
            self.ends.append(at)
        self.blob = b", ".join(pieces)

    def stream(self, h: Any, swapped: dict[int, bytes]) -> None:
        """Feed `{...}` to `h` with piece i replaced by `swapped[i]`."""
        view = memoryview(self.blob)
        h.update(b"{")
        at = 0
        for i in sorted(swapped):
            h.update(view[at : self.starts[i]])
            h.update(swapped[i])
            at = self.ends[i]
        h.update(view[at:])
        h.update(b"}")


class Pristine:
    """A domain's pristine database and the JSON text of each of its records (per process)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.fields = list(type(db).model_fields)
        dump = db.model_dump()
        if set(dump) != set(self.fields):
            raise ValueError("database dump keys differ from its fields")
        self.tables: dict[str, dict[str, str]] = {}
        self.table_texts: dict[str, _TableText] = {}
        self.record_types: dict[str, type] = {}
        for name in self.fields:
            value = getattr(db, name)
            ann = type(db).model_fields[name].annotation
            args = typing.get_args(ann)
            if (
                type(value) is dict
                and typing.get_origin(ann) is dict
                and len(args) == 2
                and args[0] is str
                and isinstance(args[1], type)
                and all(type(v) is args[1] for v in value.values())
            ):
                self.record_types[name] = args[1]
                self.tables[name] = {k: _text(v) for k, v in dump[name].items()}
                self.table_texts[name] = _TableText(self.tables[name])

    def session_db(self) -> Any:
        """A database for one session: tables copy-on-access, every other field copied."""
        db = self.db.model_copy()  # shallow: new __dict__, same field values
        for name in self.fields:
            value = getattr(self.db, name)
            db.__dict__[name] = CowTable(value) if name in self.tables else _copy(value)
        return db


def _text(value: Any) -> str:
    """A dumped value's JSON text exactly as τ²'s `get_db_hash` writes it."""
    return json.dumps(value, sort_keys=True, default=str)


def _piece(key: str, text: str) -> str:
    """One `"key": value` entry of a dict's JSON text, given the value's text."""
    return f"{json.dumps(key)}: {text}"


def _obj(parts: Iterable[tuple[str, str]]) -> str:
    """`json.dumps(d, sort_keys=True)` of a dict, given each value's JSON text."""
    return "{" + ", ".join(_piece(k, v) for k, v in sorted(parts)) + "}"


def _table_writer(table: CowTable, pristine: Pristine, name: str) -> Any:
    """How to write table `name`'s JSON text into the hash: the pristine bytes with the reached
    records swapped when the table still has exactly the pristine keys (the usual case: τ²'s
    tools update and add few records); otherwise its text assembled in full. None when a
    record is not of the table's type."""
    texts = pristine.tables[name]
    rtype: Any = pristine.record_types[name]
    owned = table.owned
    if dict.keys(table) == texts.keys():  # the pristine key set (a set comparison, in C)
        tt = pristine.table_texts[name]
        swapped: dict[int, bytes] = {}
        for key in owned:
            rec: Any = dict.__getitem__(table, key)
            if type(rec) is not rtype:
                return None
            swapped[tt.pos[key]] = _piece(key, _text(rec.model_dump())).encode()
        return lambda h: tt.stream(h, swapped)
    parts: list[tuple[str, str]] = []
    for key in dict.keys(table):
        if key in owned or key not in texts:
            rec = dict.__getitem__(table, key)
            if type(rec) is not rtype:
                return None
            parts.append((key, _text(rec.model_dump())))
        else:
            parts.append((key, texts[key]))
    text = _obj(parts).encode()
    return lambda h: h.update(text)


def cow_db_hash(db: Any, pristine: Pristine) -> str | None:
    """τ²'s `get_db_hash()` of a session database built by `pristine.session_db()`, dumping
    only the records the session reached; None when `db` is not such a database.

    The text hashed is `_obj` of the fields, each table's text the pristine one with the
    reached records swapped in (`_TableText`), streamed piece by piece into sha256."""
    if type(db) is not type(pristine.db):
        return None
    writers: list[tuple[str, Any]] = []
    for name in pristine.fields:
        value = db.__dict__.get(name, _MISSING)
        if name not in pristine.tables:
            if value is _MISSING:
                return None
            text = _text(db.model_dump(include={name})[name]).encode()
            writers.append((name, lambda h, b=text: h.update(b)))
            continue
        if type(value) is not CowTable:
            return None
        writer = _table_writer(value, pristine, name)
        if writer is None:
            return None
        writers.append((name, writer))
    h = hashlib.sha256(b"{")
    for i, (name, write) in enumerate(sorted(writers, key=lambda nw: nw[0])):
        h.update(((", " if i else "") + _piece(name, "")).encode())
        write(h)
    h.update(b"}")
    return h.hexdigest()


_lock = threading.Lock()
_pristine: dict[str, Pristine | None] = {}


def pristine_for(name: str, load: typing.Callable[[], Any]) -> Pristine | None:
    """The pristine database of registry domain `name` (loaded once by `load`), or None when
    its shape is not one `CowTable`s can stand in for."""
    with _lock:
        if name in _pristine:
            return _pristine[name]
    try:
        p: Pristine | None = Pristine(load())
    except ValueError:
        p = None
    with _lock:
        _pristine.setdefault(name, p)
        return _pristine[name]
