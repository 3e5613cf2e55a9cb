"""A sweep declared in one place: domain, tasks, simulators, trials, agent, limits.

`simgap run` builds one from its flags (optionally on top of `--config file.yaml`); the same
schema is what `simgap sweep config.yaml` reads. Errors name the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simgap.domains import DEFAULT_SPLIT, check_domain, load_tasks
from simgap.errors import ConfigError
from simgap.llm.base import ModelConfig
from simgap.models import Task
from simgap.sessions.protocol import DEFAULT_PROTOCOL, get_protocol
from simgap.users import UserPreset, get_preset


class AgentConfig(ModelConfig):
    """The agent under test: a registered agent (`llm`) on a model."""

    name: str = "llm"


class SweepConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    domain: str = "airline"
    domains: list[str] | None = None  # several domains in one sweep (overrides `domain`)
    split: str | None = DEFAULT_SPLIT
    tasks: int | list[str] | None = None  # how many (from the start), or which ids; None = all
    users: list[str] = Field(default_factory=lambda: ["local"])
    user_model: ModelConfig | None = None  # overrides the model of every LLM preset
    user_profile: str | None = None  # fitted profile (`simgap fit`) for `grounded` presets
    trials: int = Field(default=1, ge=1)
    batch: str = "default"
    agent: AgentConfig = Field(default_factory=AgentConfig)
    concurrency: int = Field(default=4, ge=1, le=1024)
    # The conversation protocol (simgap.sessions.protocol; docs/protocol.md): `tau2`, τ²-bench's
    # Orchestrator exactly (the default), or `paper`, the study of arXiv 2603.11245.
    protocol: str = DEFAULT_PROTOCOL
    # τ²'s limits; unset: the protocol's (`tau2`: 200 steps, 10 tool errors; `paper`: none).
    max_steps: int | None = Field(default=None, ge=1)
    max_errors: int | None = Field(default=None, ge=1)
    seed: int = 300
    out: str = "runs.db"
    cache: bool = True
    engine: str = Field(default="local", pattern="^(local|ray)$")
    ray_address: str | None = None  # None: $RAY_ADDRESS, else a local Ray instance
    # CPUs per Ray worker: one worker per this many CPUs of each node (the embedded model's
    # llama.cpp threads are capped to it).
    ray_worker_cpus: float = Field(default=1.0, gt=0, le=1024)

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        return check_domain(v)

    @field_validator("protocol")
    @classmethod
    def _protocol(cls, v: str) -> str:
        try:
            return get_protocol(v).name
        except ConfigError as e:
            raise ValueError(str(e)) from None

    @field_validator("domains")
    @classmethod
    def _domains(cls, v: list[str] | None) -> list[str] | None:
        return None if v is None else [check_domain(d) for d in v]

    @field_validator("users")
    @classmethod
    def _users(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one user simulator is needed")
        return v

    @property
    def domain_list(self) -> list[str]:
        return list(self.domains) if self.domains else [self.domain]

    def resolve_tasks(self) -> list[Task]:
        """The tasks of every domain. `tasks: N` takes the first N of each domain; a list of
        ids may name the domain (`retail/5`) when the sweep covers several."""
        out: list[Task] = []
        for domain in self.domain_list:
            if isinstance(self.tasks, list):
                ids = [str(t) for t in self.tasks]
                if len(self.domain_list) > 1:
                    ids = [i.split("/", 1)[1] for i in ids if i.startswith(f"{domain}/")]
                    if not ids:
                        continue
                out.extend(load_tasks(domain, split=self.split, task_ids=ids))
            else:
                out.extend(load_tasks(domain, split=self.split, limit=self.tasks))
        return out

    def resolve_presets(self) -> list[UserPreset]:
        out = []
        for name in self.users:
            p = get_preset(name)
            if self.user_model is not None and p.model is not None:
                p = p.with_model(**self.user_model.model_dump(exclude_unset=True))
            if self.user_profile is not None and p.kind == "grounded":
                p = p.model_copy(
                    update={"settings": {**p.settings, "profile_path": self.user_profile}}
                )
            out.append(p)
        return out


def load_sweep_config(path: str | Path, overrides: dict[str, Any] | None = None) -> SweepConfig:
    """Read a YAML sweep config, apply CLI overrides, validate; one-line errors."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of settings, got {type(data).__name__}")
    return make_sweep_config({**data, **(overrides or {})}, where=str(p))


def make_sweep_config(data: dict[str, Any], *, where: str = "options") -> SweepConfig:
    try:
        return SweepConfig.model_validate(data)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(x) for x in err["loc"]) or "(config)"
        msg = str(err["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{where}: field {loc}: {msg}") from None
