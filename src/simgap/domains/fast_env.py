"""τ² environments built faster, with databases identical in content to τ²'s own.

τ²'s `get_environment()` parses the domain's JSON database and validates it with pydantic every
time: about 0.5 s of CPU for airline. A session builds one environment and τ²'s evaluator two
more, so on a large sweep this parsing, not the model, bounds throughput. Here the database
is parsed once per process, pickled, and each new environment gets `pickle.loads` of it (about
a third of the time): the same `get_environment` of τ², given an equal database through its own
`db=` parameter.

The constructor is registered in τ²'s registry under its own name (`simgap-fast:airline`), so
τ²'s evaluator (`evaluate_simulation(domain=...)`) runs unchanged on it and τ²'s `airline`
entry is left as it is. Telecom gets both of its databases (the agent's `db=` and the phone's
`user_db=`) the same way: τ² otherwise re-parses their TOML files, ~0.1 s per environment.
`SIMGAP_FAST_ENV=0` turns this off.
"""

from __future__ import annotations

import os
import pickle
import threading
from typing import Any

from simgap.domains import cow_db, tau2_runtime

PREFIX = "simgap-fast:"
SUPPORTED = frozenset({"airline", "retail", "mock", "telecom"})  # `get_environment(db=...)`

# Domains whose session environments get copy-on-access databases (`cow_db`): one database,
# no `sync_tools` step. Telecom's is small and its environment is always rebuilt for the reward.
COW_SUPPORTED = frozenset({"airline", "retail", "mock"})

_lock = threading.Lock()
_blobs: dict[str, bytes] = {}


def env_domain_name(domain: str) -> str:
    """The registry name whose constructor builds `domain`'s environment (registered once)."""
    if domain not in SUPPORTED or os.environ.get("SIMGAP_FAST_ENV", "1") == "0":
        return domain
    name = PREFIX + domain
    registry = tau2_runtime.registry()
    with _lock:
        if name not in registry.get_domains():
            original = registry.get_env_constructor(domain)
            env = original()
            user_db = env.user_tools.db if env.user_tools is not None else None
            blob = pickle.dumps((env.tools.db, user_db), protocol=pickle.HIGHEST_PROTOCOL)
            _blobs[domain] = blob

            def construct(solo_mode: bool = False, **_: Any) -> Any:
                db, udb = pickle.loads(blob)
                if udb is None:
                    return original(db=db, solo_mode=solo_mode)
                return original(db=db, user_db=udb, solo_mode=solo_mode)

            registry.register_domain(construct, name)
    return name


def cow_enabled(domain: str) -> bool:
    """Copy-on-access session databases are used for `domain` (`SIMGAP_COW_DB=0`: never)."""
    return (
        domain in COW_SUPPORTED
        and env_domain_name(domain) != domain
        and os.environ.get("SIMGAP_COW_DB", "1") != "0"
    )


def cow_pristine(domain: str) -> cow_db.Pristine | None:
    """The process's pristine database of `domain` with its records' JSON texts, or None."""
    if not cow_enabled(domain):
        return None
    return cow_db.pristine_for(domain, lambda: pickle.loads(_blobs[domain])[0])


def cow_environment(domain: str) -> Any | None:
    """A fresh τ² environment of `domain` (τ²'s own `get_environment`, given a database through
    its `db=` parameter) whose database is copy-on-access; None where not supported."""
    pristine = cow_pristine(domain)
    if pristine is None:
        return None
    original = tau2_runtime.registry().get_env_constructor(domain)
    return original(db=pristine.session_db(), solo_mode=False)
