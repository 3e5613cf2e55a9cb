"""The preset zoo as a table: what each preset is and whether it can run here.

`simgap simulators list|show` print these; the library functions are here so a notebook or
another command can ask the same questions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import cache
from typing import Any

from simgap.errors import ConfigError
from simgap.users.kinds import PROFILE_ENV
from simgap.users.registry import UserPreset, get_preset, presets

# Providers whose models live on the user's own server: litellm has no price for them.
SELF_HOSTED = ("hosted_vllm/", "ollama/", "ollama_chat/", "openai/")


@dataclass(frozen=True)
class Readiness:
    ready: bool
    detail: str  # "offline", "OPENAI_API_KEY set", "needs $SIMGAP_USERLM_API_BASE", ...


def readiness(preset: UserPreset) -> Readiness:
    """Whether the preset's key or endpoint (or, for `grounded`, profile) is set here."""
    if preset.kind == "grounded":
        s = preset.settings
        if not (s.get("profile") or s.get("profile_path") or os.environ.get(PROFILE_ENV)):
            return Readiness(False, f"needs a profile: --user-profile or ${PROFILE_ENV}")
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
        if os.environ.get(m.api_key_env):
            return Readiness(True, f"${m.api_key_env} set")
        return Readiness(False, f"needs ${m.api_key_env}")
    return _litellm_readiness(m.model)


def _litellm_readiness(model: str) -> Readiness:
    import litellm

    try:
        env = litellm.validate_environment(model=model)
    except Exception as e:  # an id litellm cannot place
        return Readiness(False, f"unknown provider ({type(e).__name__})")
    missing = [str(k) for k in env.get("missing_keys") or []]
    if env.get("keys_in_environment"):
        return Readiness(True, "key set")
    if not missing:
        return Readiness(False, "no key found")
    # Gemini takes either of its two variables; other providers need all they list.
    either = set(missing) == {"GEMINI_API_KEY", "GOOGLE_API_KEY"}
    joined = (" or " if either else " and ").join(f"${k}" for k in missing)
    return Readiness(False, f"needs {joined}")


@cache
def _price_table() -> frozenset[str]:
    import litellm

    return frozenset(litellm.model_cost)


def known_to_litellm(model: str) -> bool:
    """Whether litellm's price table has this model id (with or without its provider prefix).

    Self-hosted ids (vLLM, Ollama, any OpenAI-compatible server) are the user's own and count
    as known when litellm can place their provider.
    """
    if model == "local" or model.startswith("local:"):
        return True
    table = _price_table()
    if model in table or model.split("/", 1)[-1] in table:
        return True
    if model.startswith(SELF_HOSTED):
        import litellm

        try:
            litellm.get_llm_provider(model)
        except Exception:
            return False
        return True
    return False


@dataclass(frozen=True)
class ZooRow:
    name: str
    family: str
    provider: str
    model: str  # "-" for non-LLM presets
    synthetic: bool
    ready: bool
    detail: str


def zoo_rows() -> list[ZooRow]:
    """Every preset, in the presets file's order, with whether it can run here."""
    out = []
    for p in presets().values():
        try:
            r = readiness(get_preset(p.name))
        except ConfigError as e:  # e.g. $SIMGAP_PROFILE names a file that is not a profile
            r = Readiness(False, str(e))
        out.append(
            ZooRow(
                name=p.name,
                family=p.family,
                provider=p.provider,
                model=p.model.model if p.model else "-",
                synthetic=p.synthetic,
                ready=r.ready,
                detail=r.detail,
            )
        )
    return out


def describe_preset(name: str) -> dict[str, Any]:
    """One preset in full (model settings without secrets), plus its readiness."""
    p = get_preset(name)
    data = p.model_dump(exclude_none=True)
    if p.model is not None:
        data["model"] = p.model.public()
        data["priced_by_litellm"] = known_to_litellm(p.model.model)
    data["configured"] = readiness(p).detail
    return data
