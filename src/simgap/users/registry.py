"""Registry of user-simulator presets (YAML, one entry each) and of the builders behind them.

A preset says *which* simulator (model, prompt, settings); its `kind` says *how* it is built.
Later stages add kinds with `register_user_kind` and presets with `register_preset` or YAML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simgap.domains import DomainEnvironment, user_scenario_text
from simgap.errors import ConfigError
from simgap.llm.base import LLMClient, ModelConfig
from simgap.models import Task
from simgap.plugins import USER_GROUP, is_plugin_ref, load_class
from simgap.users.base import UserSimulator
from simgap.users.tau2_user import Tau2UserSimulator


class UserPreset(BaseModel):
    """One named simulator."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kind: str
    family: str = "other"  # proprietary | open | specialised | local | synthetic | ...
    provider: str = ""
    model: ModelConfig | None = None  # None for non-LLM simulators (behavior)
    description: str = ""
    synthetic: bool = False  # True for non-LLM stand-ins (labelled as such everywhere)
    settings: dict[str, Any] = Field(default_factory=dict)

    def with_model(self, **overrides: Any) -> UserPreset:
        """A copy whose model config has some fields replaced (CLI --user-model etc.).

        When the model itself changes, the copy is renamed `<preset>:<model>` so results of
        different models never share a simulator name on a leaderboard.
        """
        given = {k: v for k, v in overrides.items() if v is not None}
        if not given:
            return self
        base = self.model.model_dump() if self.model else {}
        base.update(given)
        model = ModelConfig.model_validate(base)
        name = self.name
        if self.model is None or model.model != self.model.model:
            name = f"{self.name}:{model.model}"
        return self.model_copy(update={"model": model, "name": name})


@dataclass
class UserContext:
    """Everything a builder may use to make the simulator of one session."""

    task: Task
    env: DomainEnvironment
    client: LLMClient | None
    seed: int | None = None
    preset: UserPreset | None = None


UserBuilder = Callable[[UserPreset, UserContext], UserSimulator]
PresetResolver = Callable[[UserPreset], UserPreset]

_KINDS: dict[str, UserBuilder] = {}
_EXTRA_PRESETS: dict[str, UserPreset] = {}
_RESOLVERS: list[PresetResolver] = []


def register_user_kind(kind: str, builder: UserBuilder) -> None:
    if kind in _KINDS:
        raise ConfigError(f"user kind {kind!r} is already registered")
    _KINDS[kind] = builder


def register_preset_resolver(resolver: PresetResolver) -> None:
    """A hook `get_preset` applies to the preset it returns (e.g. a kind that reads its
    parameters from the environment copies them into `settings`, so they reach the session
    identity)."""
    _RESOLVERS.append(resolver)


def register_preset(preset: UserPreset) -> None:
    """Add a preset at run time (e.g. a fitted `grounded` profile)."""
    _EXTRA_PRESETS[preset.name] = preset


def load_preset_file(path: str | Path) -> list[UserPreset]:
    """Parse a presets YAML; errors name the file and the entry."""
    p = Path(str(path))
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise ConfigError(f"{p}: not valid YAML ({str(e).splitlines()[0]})") from None
    return _parse_presets(data, str(p))


def _parse_presets(data: Any, where: str) -> list[UserPreset]:
    if not isinstance(data, dict) or not isinstance(data.get("presets"), list):
        raise ConfigError(f"{where}: expected a mapping with a `presets:` list")
    out: list[UserPreset] = []
    for i, entry in enumerate(data["presets"]):
        name = entry.get("name", f"#{i}") if isinstance(entry, dict) else f"#{i}"
        try:
            out.append(UserPreset.model_validate(entry))
        except ValidationError as e:
            err = e.errors()[0]
            loc = ".".join(str(x) for x in err["loc"])
            raise ConfigError(f"{where}: preset {name!r}: field {loc}: {err['msg']}") from None
    return out


@cache
def _builtin_presets() -> dict[str, UserPreset]:
    text = resources.files("simgap.users").joinpath("data/presets.yaml").read_text("utf-8")
    presets = _parse_presets(yaml.safe_load(text), "simgap/users/data/presets.yaml")
    return {p.name: p for p in presets}


def presets() -> dict[str, UserPreset]:
    """All known presets, built-in first, then run-time registrations (which may override)."""
    return {**_builtin_presets(), **_EXTRA_PRESETS}


def get_preset(name: str) -> UserPreset:
    """The preset called `name`, as it will run here (resolver hooks applied)."""
    known = presets()
    if name in known:
        preset = known[name]
    elif is_plugin_ref(USER_GROUP, name):
        preset = plugin_preset(name)
    else:
        raise ConfigError(
            f"unknown user simulator {name!r}; known: {', '.join(sorted(known))}, installed "
            f"`{USER_GROUP}` entry points, or an import path such as mypkg.sims:MySim"
        )
    for resolve in _RESOLVERS:
        preset = resolve(preset)
    return preset


def plugin_class(ref: str) -> type[UserSimulator]:
    cls: type[UserSimulator] = load_class(
        ref, what="user simulator", group=USER_GROUP, base=UserSimulator
    )
    return cls


def plugin_preset(ref: str) -> UserPreset:
    """The preset of a plugin simulator (entry point name or `pkg.mod:Class`), its class
    loaded and checked now so a bad plugin fails before any session starts."""
    cls = plugin_class(ref)
    doc = (cls.__doc__ or "").strip().splitlines()
    return UserPreset(
        name=ref,
        kind="plugin",
        family=str(getattr(cls, "family", "plugin")),
        provider="plugin",
        synthetic=bool(getattr(cls, "synthetic", False)),
        description=doc[0] if doc else f"plugin {cls.__module__}.{cls.__qualname__}",
        settings={"plugin": ref},
    )


def _build_plugin(preset: UserPreset, ctx: UserContext) -> UserSimulator:
    ref = str(preset.settings.get("plugin") or preset.name)
    return plugin_class(ref).for_session(ctx)


def build_user(preset: UserPreset, ctx: UserContext) -> UserSimulator:
    try:
        builder = _KINDS[preset.kind]
    except KeyError:
        raise ConfigError(
            f"user simulator {preset.name!r} has unknown kind {preset.kind!r}; "
            f"known kinds: {', '.join(sorted(_KINDS))}"
        ) from None
    return builder(preset, ctx)


def _build_tau2(preset: UserPreset, ctx: UserContext) -> UserSimulator:
    if ctx.client is None:
        raise ConfigError(f"user simulator {preset.name!r} needs a model")
    return Tau2UserSimulator(
        preset.name,
        ctx.client,
        scenario=user_scenario_text(ctx.task),
        tools=ctx.env.user_tools(),
        extra_instructions=preset.settings.get("extra_instructions"),
    )


register_user_kind("tau2", _build_tau2)
register_user_kind("plugin", _build_plugin)
