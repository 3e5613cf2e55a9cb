"""On-disk response cache, so rerunning a finished (or half-finished) sweep costs no model calls.

SQLite in WAL mode: readers never block writers, several processes (Ray workers, two CLI runs)
can share one file, and a crash can't leave a half-written entry. Each thread gets its own
connection (sqlite3 connections must not be shared between threads while in use).

Lookups are synchronous: a primary-key read is tens of microseconds, far below the cost of
handing the work to a thread.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

from pydantic import ValidationError

from simgap.errors import ConfigError
from simgap.llm.base import ChatRequest, ChatResponse
from simgap.models import Usage

CACHE_ENV = "SIMGAP_CACHE_DIR"
CACHE_FILE = "llm-cache.sqlite"
_SCHEMA_VERSION = 1


def default_cache_path() -> Path:
    """`$SIMGAP_CACHE_DIR/llm-cache.sqlite`, else `$XDG_CACHE_HOME/simgap/llm-cache.sqlite`
    (the XDG base-directory rule), else `~/.cache/simgap/llm-cache.sqlite`."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / CACHE_FILE
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "simgap" / CACHE_FILE


class ResponseCache:
    """Maps `ChatRequest.cache_key()` to the `ChatResponse` it got.

    Only successful, non-empty upstream answers are stored. A hit comes back with
    `cached=True` and `usage=Usage(cached_calls=1)`: no tokens, no cost, no call, so usage totals
    of a rerun show exactly what was new.
    """

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path).expanduser() if path is not None else default_cache_path()
        self._local = threading.local()
        self._conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._closed = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = self._conn()
            conn.execute(
                "CREATE TABLE IF NOT EXISTS responses ("
                " key TEXT PRIMARY KEY,"
                " model TEXT NOT NULL,"
                " response TEXT NOT NULL,"
                " created_at REAL NOT NULL)"
            )
            conn.execute(f"PRAGMA user_version = {_SCHEMA_VERSION}")
        except (OSError, sqlite3.Error) as e:
            raise ConfigError(f"response cache {self.path}: {e}") from None

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise ConfigError(f"response cache {self.path} is closed")
            # isolation_level=None: autocommit, each statement is its own short transaction.
            conn = sqlite3.connect(
                self.path, timeout=30.0, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
            with self._conns_lock:
                self._conns.append(conn)
        return conn

    def get(self, request: ChatRequest) -> ChatResponse | None:
        """The stored answer to `request`, marked cached, or None."""
        t0 = time.perf_counter()
        key = request.cache_key()
        row = (
            self._conn().execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        )
        if row is None:
            return None
        try:
            resp = ChatResponse.model_validate_json(row[0])
        except ValidationError:
            return None  # written by an incompatible version: treat as a miss, overwrite later
        return resp.model_copy(
            update={
                "cached": True,
                "usage": Usage(cached_calls=1),
                "latency_s": time.perf_counter() - t0,
            }
        )

    def put(self, request: ChatRequest, response: ChatResponse) -> bool:
        """Store `response` unless it is empty or itself a cache hit. Returns whether stored."""
        if response.is_empty or response.cached:
            return False
        self._conn().execute(
            "INSERT OR REPLACE INTO responses (key, model, response, created_at) VALUES (?,?,?,?)",
            (request.cache_key(), request.model, response.model_dump_json(), time.time()),
        )
        return True

    def __len__(self) -> int:
        row = self._conn().execute("SELECT COUNT(*) FROM responses").fetchone()
        return int(row[0])

    def clear(self) -> None:
        self._conn().execute("DELETE FROM responses")

    def close(self) -> None:
        """Close every thread's connection (call once no thread uses the cache any more)."""
        self._closed = True
        with self._conns_lock:
            conns, self._conns = self._conns, []
        for c in conns:
            c.close()
        self._local = threading.local()

    def __repr__(self) -> str:
        return f"ResponseCache({str(self.path)!r})"
