"""Builders of the simulator kinds beyond τ²'s own: `behavior`, `persona`, `grounded`.

A preset names its kind; `settings` carry the kind's parameters:

* `behavior`: `settings.profile` (a BehaviorProfile as a mapping) or `settings.profile_path`;
* `persona`: τ²'s prompt on the preset's model plus a persona sampled from the session seed;
* `grounded`: a profile fitted on a reference (`simgap fit`), given as `settings.profile_path`
  (`simgap run --user-profile`), inline `settings.profile`, or `$SIMGAP_PROFILE`; it drives
  the parametric simulator (`settings.engine: behavior`, the default) or, with
  `engine: llm`, conditions τ²'s prompt on the preset's model with the profile in words
  (`settings.model_preset: gpt-4o` borrows another preset's model).

A profile given by file or environment is copied into the preset's settings when the preset
is looked up (`use_profile`, `_inline_env_profile`), so the session ids, which hash the
settings, change when the profile changes: two different profiles never share sessions.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from simgap.domains import user_scenario_text
from simgap.errors import ConfigError
from simgap.models import Turn
from simgap.users.base import UserReply, UserSimulator
from simgap.users.behavior import BehaviorSimulator
from simgap.users.persona import PERSONA_VERSION, persona_instructions, sample_persona
from simgap.users.profile import BehaviorProfile
from simgap.users.registry import (
    UserContext,
    UserPreset,
    presets,
    register_preset,
    register_preset_resolver,
    register_user_kind,
)
from simgap.users.tau2_user import Tau2UserSimulator

PROFILE_ENV = "SIMGAP_PROFILE"


def preset_profile(preset: UserPreset) -> BehaviorProfile:
    """The profile a preset runs on: `profile_path` > inline `profile` > $SIMGAP_PROFILE."""
    s = preset.settings
    if s.get("profile_path"):
        return BehaviorProfile.load(s["profile_path"])
    if isinstance(s.get("profile"), dict):
        return BehaviorProfile.model_validate({"name": preset.name, **s["profile"]})
    env = os.environ.get(PROFILE_ENV) if preset.kind == "grounded" else None
    if env:
        return BehaviorProfile.load(env)
    if preset.kind == "grounded":
        raise ConfigError(
            f"simulator {preset.name!r} needs a fitted profile: run `simgap fit` and pass "
            f"--user-profile profile.json (or set ${PROFILE_ENV})"
        )
    return BehaviorProfile(name=preset.name)


def with_profile(preset: UserPreset, path: str | Path) -> UserPreset:
    """A copy of a preset running on the profile in `path` (inlined, and the path kept)."""
    profile = BehaviorProfile.load(path)
    settings = {
        **preset.settings,
        "profile_path": str(path),
        "profile": profile.model_dump(mode="json"),
    }
    return preset.model_copy(update={"settings": settings})


def use_profile(path: str | Path) -> list[str]:
    """Make every `grounded` preset run on the profile in `path` (for `--user-profile`).

    Returns the names of the presets it changed.
    """
    changed = []
    for p in list(presets().values()):
        if p.kind == "grounded":
            register_preset(with_profile(p, path))
            changed.append(p.name)
    return changed


def _inline_env_profile(preset: UserPreset) -> UserPreset:
    """Lookup hook: a `grounded` preset without a profile takes $SIMGAP_PROFILE's, inlined."""
    path = os.environ.get(PROFILE_ENV)
    s = preset.settings
    if preset.kind != "grounded" or not path or s.get("profile_path") or s.get("profile"):
        return preset
    return with_profile(preset, path)


def _model_from_preset(preset: UserPreset) -> UserPreset:
    """Lookup hook: `settings.model_preset: NAME` runs the preset on NAME's model (e.g. a
    `grounded` LLM simulator on `gpt-4o`'s model config), unless it names its own model."""
    source = preset.settings.get("model_preset")
    if not source or preset.model is not None:
        return preset
    known = presets()
    if source not in known or known[source].model is None:
        raise ConfigError(
            f"simulator {preset.name!r}: settings.model_preset {source!r} is not an LLM preset"
        )
    return preset.model_copy(update={"model": known[source].model})


def profile_instructions(p: BehaviorProfile) -> str:
    """A profile in words, for an LLM simulator (`grounded` with `engine: llm`)."""

    def pct(x: float) -> str:
        return f"{round(100 * x)}%"

    err = p.on_error
    lines = [
        "## How you talk (measured on real customers)",
        f"- Polite words (please, thanks) in about {pct(p.politeness)} of your messages.",
        f"- Casual typing (lowercase, 'im', 'ok so') in about {pct(p.informal)} of them.",
        f"- Hedges (I think, maybe) in about {pct(p.uncertainty)}; vague wording (something "
        f"like that) in about {pct(p.vague)}.",
        f"- Frustration or worry in about {pct(p.emotion)}; blame the agent in about "
        f"{pct(p.accusation)}.",
        f"- Ask what the agent means in about {pct(p.clarify_q)}; ask for information in about "
        f"{pct(p.info_q)}; ask to confirm in about {pct(p.confirm_q)}.",
        f"- Correct yourself ('wait, no, I meant') in about {pct(p.self_correction)}.",
        "- Give all your details in the first message."
        if p.frontload >= 0.5
        else "- Do not give all your details at once: start with your problem, give details "
        "when asked.",
        f"- When asked for a detail, answer with just the value in about {pct(p.terse)} of "
        f"cases; accept a proposal with a bare 'ok' in about {pct(p.ack_only)}.",
        f"- Write a long message (more than 30 words) in about {pct(p.elaborate)} of cases.",
        f"- When the agent refuses or makes a mistake: push back {pct(err.pushes_back)}, "
        f"repeat your request {pct(err.repeats_request)}, try another way {pct(err.pivots)}, "
        f"give up {pct(err.gives_up)}, ask for a human {pct(err.escalates)} of the time.",
        f"- End the chat within about {p.max_turns} messages.",
    ]
    return "\n".join(lines)


class _Annotated(UserSimulator):
    """Adds a fixed `meta` (persona, profile name) to every reply of an inner simulator."""

    def __init__(self, inner: UserSimulator, meta: dict[str, Any]) -> None:
        self.inner, self.meta, self.name = inner, meta, inner.name

    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> UserReply:
        r = await self.inner.reply(history, seed=seed)
        return r.model_copy(update={"meta": {**r.meta, **self.meta}})

    async def aclose(self) -> None:
        await self.inner.aclose()


def _llm(preset: UserPreset, ctx: UserContext, extra: str) -> Tau2UserSimulator:
    if ctx.client is None:
        raise ConfigError(f"user simulator {preset.name!r} needs a model")
    return Tau2UserSimulator(
        preset.name,
        ctx.client,
        scenario=user_scenario_text(ctx.task),
        tools=ctx.env.user_tools(),
        extra_instructions=extra,
    )


def build_behavior(preset: UserPreset, ctx: UserContext) -> UserSimulator:
    return BehaviorSimulator(preset.name, ctx.task, preset_profile(preset), ctx.seed)


def build_persona(preset: UserPreset, ctx: UserContext) -> UserSimulator:
    persona = sample_persona(ctx.seed)
    meta = {"persona": persona, "persona_version": PERSONA_VERSION}
    return _Annotated(_llm(preset, ctx, persona_instructions(persona)), meta)


def build_grounded(preset: UserPreset, ctx: UserContext) -> UserSimulator:
    profile = preset_profile(preset)
    inner: UserSimulator
    engine = preset.settings.get("engine", "behavior")
    if engine == "llm":
        inner = _llm(preset, ctx, profile_instructions(profile))
    elif engine == "behavior":
        inner = BehaviorSimulator(preset.name, ctx.task, profile, ctx.seed)
    else:
        raise ConfigError(
            f"simulator {preset.name!r}: settings.engine must be behavior or llm, not {engine!r}"
        )
    return _Annotated(inner, {"profile": profile.name, "engine": engine})


register_user_kind("behavior", build_behavior)
register_user_kind("persona", build_persona)
register_user_kind("grounded", build_grounded)
register_preset_resolver(_inline_env_profile)
register_preset_resolver(_model_from_preset)
