"""Builders of the simulator kinds beyond τ²'s own: `behavior`, `persona`, `grounded`.

A preset names its kind; `settings` carry the kind's parameters:

* `behavior`: `settings.profile` (a BehaviorProfile as a mapping) or `settings.profile_path`;
* `persona`: τ²'s prompt on the preset's model plus a persona sampled from the session seed;
* `grounded`: a profile fitted on a reference (`settings.profile_path`, or `$SIMGAP_PROFILE`),
  driving the parametric simulator (`settings.engine: behavior`, the default) or, with
  `engine: llm`, conditioning τ²'s prompt on the model with instructions made from it.
"""

from __future__ import annotations

import os
from typing import Any

from simgap.domains import user_scenario_text
from simgap.errors import ConfigError
from simgap.users.base import UserReply, UserSimulator
from simgap.users.behavior import BehaviorSimulator
from simgap.users.persona import persona_instructions, sample_persona
from simgap.users.profile import BehaviorProfile
from simgap.users.registry import UserContext, UserPreset, register_user_kind
from simgap.users.tau2_user import Tau2UserSimulator


def preset_profile(preset: UserPreset) -> BehaviorProfile:
    """The profile a preset names (inline mapping, file, or $SIMGAP_PROFILE for `grounded`)."""
    s = preset.settings
    if isinstance(s.get("profile"), dict):
        return BehaviorProfile.model_validate({"name": preset.name, **s["profile"]})
    path = s.get("profile_path") or (
        os.environ.get("SIMGAP_PROFILE") if preset.kind == "grounded" else None
    )
    if path:
        return BehaviorProfile.load(path)
    if preset.kind == "grounded":
        raise ConfigError(
            f"simulator {preset.name!r} needs a fitted profile: run `simgap fit` and pass "
            "--user-profile profile.json (or set SIMGAP_PROFILE)"
        )
    return BehaviorProfile(name=preset.name)


def profile_instructions(p: BehaviorProfile) -> str:
    """A profile in words, for an LLM simulator (`grounded` with `engine: llm`)."""

    def pct(x: float) -> str:
        return f"{round(100 * x)}%"

    return (
        "## How you talk (measured on real customers)\n"
        f"- Polite words (please, thanks) in about {pct(p.politeness)} of your messages.\n"
        f"- Hedges (I think, not sure) in about {pct(p.uncertainty)} of your messages.\n"
        f"- Show frustration or worry in about {pct(p.emotion)} of your messages.\n"
        f"- Ask what the agent means in about {pct(p.clarify_q)} of your messages.\n"
        + (
            "- Give all your details in the first message.\n"
            if p.frontload >= 0.5
            else "- Do not give all your details at once: start with your problem, give "
            "details when asked.\n"
        )
        + f"- End the chat within about {p.max_turns} messages."
    )


class _Annotated(UserSimulator):
    """Adds a fixed `meta` (persona, profile name) to every reply of an inner simulator."""

    def __init__(self, inner: UserSimulator, meta: dict[str, Any]) -> None:
        self.inner, self.meta, self.name = inner, meta, inner.name

    async def reply(self, history: Any, *, seed: int | None = None) -> UserReply:
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
    return _Annotated(_llm(preset, ctx, persona_instructions(persona)), {"persona": persona})


def build_grounded(preset: UserPreset, ctx: UserContext) -> UserSimulator:
    profile = preset_profile(preset)
    inner: UserSimulator
    if preset.settings.get("engine", "behavior") == "llm":
        inner = _llm(preset, ctx, profile_instructions(profile))
    else:
        inner = BehaviorSimulator(preset.name, ctx.task, profile, ctx.seed)
    return _Annotated(inner, {"profile": profile.name})


register_user_kind("behavior", build_behavior)
register_user_kind("persona", build_persona)
register_user_kind("grounded", build_grounded)
