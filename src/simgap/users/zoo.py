"""What a preset needs before it can run, for `simgap simulators list`."""

from __future__ import annotations

import os
from dataclasses import dataclass

from simgap.users.registry import UserPreset


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str  # "offline", "OPENAI_API_KEY set", "needs SIMGAP_USERLM_API_BASE", ...


def readiness(preset: UserPreset) -> Readiness:
    """Whether the preset's key or endpoint is configured in this environment."""
    m = preset.model
    if m is None:
        return Readiness(True, "offline (no model)")
    if m.is_local:
        return Readiness(True, "offline (embedded model)")
    if m.api_base_env:
        if m.api_base or os.environ.get(m.api_base_env):
            return Readiness(True, f"endpoint from ${m.api_base_env}")
        return Readiness(False, f"needs ${m.api_base_env}")
    if m.api_base:
        return Readiness(True, f"endpoint {m.api_base}")
    if m.api_key_env:
        ok = bool(os.environ.get(m.api_key_env))
        return Readiness(ok, f"{'$' + m.api_key_env} {'set' if ok else 'missing'}")
    import litellm

    try:
        env = litellm.validate_environment(model=m.model)
    except Exception as e:  # an id litellm cannot place
        return Readiness(False, f"unknown provider ({type(e).__name__})")
    missing = list(env.get("missing_keys") or [])
    if env.get("keys_in_environment") and not missing:
        return Readiness(True, "key set")
    return Readiness(False, "needs " + ", ".join(f"${k}" for k in missing) if missing else "no key")
