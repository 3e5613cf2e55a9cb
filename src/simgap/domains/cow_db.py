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


class Pristine:
    """A domain's pristine database and the JSON text of each of its records (per process)."""

    def __init__(self, db: Any) -> None:
        self.db = db
        self.fields = list(type(db).model_fields)
        dump = db.model_dump()
        if set(dump) != set(self.fields):
            raise ValueError("database dump keys differ from its fields")
        self.tables: dict[str, dict[str, str]] = {}
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
                self.tables[name] = {
                    k: json.dumps(v, sort_keys=True, default=str) for k, v in dump[name].items()
                }

    def session_db(self) -> Any:
        """A database for one session: tables copy-on-access, every other field copied."""
        db = self.db.model_copy()  # shallow: new __dict__, same field values
        for name in self.fields:
            value = getattr(self.db, name)
            db.__dict__[name] = CowTable(value) if name in self.tables else _copy(value)
        return db


def _obj(parts: Iterable[tuple[str, str]]) -> str:
    """`json.dumps(d, sort_keys=True)` of a dict, given each value's JSON text."""
    return "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in sorted(parts)) + "}"


def cow_db_hash(db: Any, pristine: Pristine) -> str | None:
    """τ²'s `get_db_hash()` of a session database built by `pristine.session_db()`, dumping
    only the records the session reached; None when `db` is not such a database."""
    if type(db) is not type(pristine.db):
        return None
    fields: list[tuple[str, str]] = []
    for name in pristine.fields:
        value = db.__dict__.get(name, _MISSING)
        if name not in pristine.tables:
            if value is _MISSING:
                return None
            dumped = db.model_dump(include={name})[name]
            fields.append((name, json.dumps(dumped, sort_keys=True, default=str)))
            continue
        if type(value) is not CowTable:
            return None
        texts = pristine.tables[name]
        rtype: Any = pristine.record_types[name]
        owned = value.owned
        parts: list[tuple[str, str]] = []
        for key in dict.keys(value):
            if key in owned or key not in texts:
                rec: Any = dict.__getitem__(value, key)
                if type(rec) is not rtype:
                    return None
                parts.append((key, json.dumps(rec.model_dump(), sort_keys=True, default=str)))
            else:
                parts.append((key, texts[key]))
        fields.append((name, _obj(parts)))
    return hashlib.sha256(_obj(fields).encode()).hexdigest()


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
