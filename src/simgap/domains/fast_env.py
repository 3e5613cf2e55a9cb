"""τ² environments built faster, with databases identical in content to τ²'s own.

τ²'s `get_environment()` parses the domain's JSON database and validates it with pydantic every
time: about 0.5 s of CPU for airline. A session builds one environment and τ²'s evaluator two
more, so on a large sweep this parsing, not the model, bounds throughput. Here the database
is parsed once per process, pickled, and each new environment gets `pickle.loads` of it (about
a third of the time): the same `get_environment` of τ², given an equal database through its own
`db=` parameter.

The constructor is registered in τ²'s registry under its own name (`simgap-fast:airline`), so
τ²'s evaluator (`evaluate_simulation(domain=...)`) runs unchanged on it and τ²'s `airline`
entry is left as it is. Telecom (two databases) keeps τ²'s constructor. `SIMGAP_FAST_ENV=0`
turns this off.
"""

from __future__ import annotations

import os
import pickle
import threading
from typing import Any

from simgap.domains import tau2_runtime

PREFIX = "simgap-fast:"
SUPPORTED = frozenset({"airline", "retail", "mock"})  # `get_environment(db=..., solo_mode=...)`

_lock = threading.Lock()


def env_domain_name(domain: str) -> str:
    """The registry name whose constructor builds `domain`'s environment (registered once)."""
    if domain not in SUPPORTED or os.environ.get("SIMGAP_FAST_ENV", "1") == "0":
        return domain
    name = PREFIX + domain
    registry = tau2_runtime.registry()
    with _lock:
        if name not in registry.get_domains():
            original = registry.get_env_constructor(domain)
            blob = pickle.dumps(original().tools.db, protocol=pickle.HIGHEST_PROTOCOL)

            def construct(solo_mode: bool = False, **_: Any) -> Any:
                return original(db=pickle.loads(blob), solo_mode=solo_mode)

            registry.register_domain(construct, name)
    return name
