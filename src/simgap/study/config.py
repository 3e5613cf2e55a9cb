"""A human study declared in one YAML file: which tasks, how many people, which agent, how people
get in, and what they are paid with.

Everything a lab would otherwise hard-code lives here so that the same app serves a 3-task pilot
and a 500-person run. Errors are one line naming the file and the field (`ConfigError`).
"""

from __future__ import annotations

import ipaddress
import os
import re
from enum import StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simgap.domains import DEFAULT_SPLIT, check_domain, load_tasks
from simgap.domains.environment import fast_eval_enabled
from simgap.errors import ConfigError
from simgap.llm.base import ModelConfig
from simgap.models import Questionnaire, Task, load_questionnaire

# Chats at once with the embedded model when the config does not say. benchmarks/load_study.py
# --capacity on this project's shared 2-core machine: even 1 person's send -> reply p95 was
# 18 s (load average 9-14), so one chat at a time; raise it where a rerun on a quiet machine
# shows more people staying under 10 s.
DEFAULT_LOCAL_CHATS = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

DEFAULT_CONSENT = """\
This is a research study about how people talk to AI customer-service agents.

You will play a customer described in a short scenario, chat with an AI agent about it, and then
answer a few questions about the conversation. It takes about 10 to 15 minutes.

What we record: the messages you type, your answers to the questions and when you sent them.
We do not record your name, your IP address or anything about your device. The conversation is
with an AI, not a person; do not type real personal information (use only what the scenario
gives you).

Taking part is voluntary. You can stop at any time by closing the page.
"""


class AccessMode(StrEnum):
    """How a participant proves who they are when they arrive."""

    TOKEN = "token"  # /start?token=... with a token the admin created (one person each)
    CROWD = "crowd"  # /start?PROLIFIC_PID=... (a crowd platform's worker id in the URL)
    OPEN = "open"  # anyone with the link; each new browser is a new participant (demos)


class AccessConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mode: AccessMode = AccessMode.CROWD
    crowd_param: str = "PROLIFIC_PID"
    # Other URL parameters kept with the participant (e.g. Prolific's STUDY_ID, SESSION_ID).
    keep_params: list[str] = Field(default_factory=lambda: ["STUDY_ID", "SESSION_ID"])


class CompletionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # One code for everybody (what Prolific expects), or None: a random code per participant.
    code: str | None = None
    # Where the "finish" button goes; `{code}` is replaced by the completion code.
    url: str | None = None


class StudyAgentConfig(ModelConfig):
    """The agent under test: a registered agent (`llm`) on a model (`local` = embedded)."""

    name: str = "llm"


class StudyConfig(BaseModel):
    """The study. `tasks` is a list of task ids, or N for the first N tasks of the split."""

    model_config = ConfigDict(extra="forbid")

    name: str = "study"
    title: str = "Customer service study"
    domain: str = "airline"
    split: str | None = DEFAULT_SPLIT
    tasks: list[str] | int = Field(default_factory=lambda: ["0", "1", "19"])
    people_per_task: int = Field(default=3, ge=1, le=100_000)
    batches: list[str] = Field(default_factory=lambda: ["batch1", "batch2", "batch3"])
    tasks_per_participant: int = Field(default=1, ge=1, le=1000)
    agent: StudyAgentConfig = Field(default_factory=StudyAgentConfig)
    access: AccessConfig = Field(default_factory=AccessConfig)
    completion: CompletionConfig = Field(default_factory=CompletionConfig)
    questionnaire: str = "usi"  # a built-in name, or a path to a questionnaire YAML
    consent_text: str = DEFAULT_CONSENT
    abandon_after_minutes: float = Field(default=30.0, gt=0)
    max_message_chars: int = Field(default=2000, ge=20, le=4000)
    max_text_answer_chars: int = Field(default=2000, ge=20, le=20_000)
    max_user_turns: int = Field(default=40, ge=1, le=1000)
    # Chats at once; people beyond it wait on a "you are next" page until one ends. None: for
    # the embedded model DEFAULT_LOCAL_CHATS (what keeps replies under 10 s on 2 cores:
    # benchmarks/load_study.py --capacity), for a hosted model no cap.
    max_active_chats: int | None = Field(default=None, ge=1, le=100_000)
    # Processes computing τ²'s reward (seconds of CPU per session) off the app's own process;
    # None: one per spare CPU core (at least 1, at most 4); 0: in a thread of the app process.
    reward_workers: int | None = Field(default=None, ge=0, le=64)
    max_steps: int = Field(default=200, ge=2)
    max_errors: int = Field(default=10, ge=1)
    # Admin password: prefer the SIMGAP_ADMIN_PASSWORD environment variable; or put the hash
    # printed by `simgap study hash-password` here. Never the password itself.
    admin_password_hash: str | None = None
    # Cookie signing key: from this environment variable, else generated once and kept in the
    # database (so a restart keeps everybody's cookies valid).
    secret_key_env: str = "SIMGAP_SECRET_KEY"
    cookie_secure: bool = False  # set true behind HTTPS
    # Reverse proxies (addresses or CIDR networks) whose X-Forwarded-For header is believed;
    # the admin login throttle keys on the client address it names. Empty: the header is
    # ignored and the socket peer is the client.
    trusted_proxies: list[str] = Field(default_factory=list)
    public_url: str | None = None  # how participants reach the app (for printed links)
    synthetic: bool = False  # true when the "participants" are scripts (load tests, demos)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("use 1-64 letters, digits, '_', '-' or '.'")
        return v

    @field_validator("domain")
    @classmethod
    def _domain(cls, v: str) -> str:
        return check_domain(v)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies(cls, v: list[str]) -> list[str]:
        for e in v:
            try:
                ipaddress.ip_network(e.strip(), strict=False)
            except ValueError:
                raise ValueError(f"{e!r} is not an IP address or network") from None
        return [e.strip() for e in v]

    @field_validator("batches")
    @classmethod
    def _batches(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError("at least one batch is needed")
        if len(set(v)) != len(v):
            raise ValueError("batch names must be unique")
        for b in v:
            if not _NAME.match(b):
                raise ValueError(f"batch {b!r}: use letters, digits, '_', '-' or '.'")
        return v

    @field_validator("tasks")
    @classmethod
    def _tasks(cls, v: list[str] | int) -> list[str] | int:
        if isinstance(v, int):
            if v < 1:
                raise ValueError("must be at least 1")
            return v
        if not v:
            raise ValueError("at least one task is needed")
        ids = [str(x) for x in v]
        if len(set(ids)) != len(ids):
            raise ValueError("task ids must be unique")
        return ids

    @model_validator(mode="after")
    def _fits(self) -> StudyConfig:
        if self.people_per_task < len(self.batches):
            raise ValueError(
                f"people_per_task ({self.people_per_task}) is smaller than the number of "
                f"batches ({len(self.batches)}): every batch needs at least one person per task"
            )
        return self

    # -- derived ------------------------------------------------------------------------------
    def cell_targets(self) -> dict[str, int]:
        """People per task in each batch: `people_per_task` spread as evenly as possible,
        earlier batches taking the remainder (3 people, 3 batches -> 1 each, as in the paper)."""
        n = len(self.batches)
        base, extra = divmod(self.people_per_task, n)
        return {b: base + (1 if i < extra else 0) for i, b in enumerate(self.batches)}

    def resolve_tasks(self) -> list[Task]:
        if isinstance(self.tasks, int):
            return load_tasks(self.domain, split=self.split, limit=self.tasks)
        return load_tasks(self.domain, split=self.split, task_ids=self.tasks)

    def reward_worker_count(self) -> int:
        if self.reward_workers is not None:
            return self.reward_workers
        if fast_eval_enabled():  # ~10 ms in a thread, on the chat's own environment
            return 0
        return max(1, min(4, (os.cpu_count() or 2) - 1))

    def chat_cap(self) -> int | None:
        """How many chats may run at once (None: no cap). See `max_active_chats`."""
        if self.max_active_chats is not None:
            return self.max_active_chats
        return DEFAULT_LOCAL_CHATS if self.model_config_for_agent().is_local else None

    def model_config_for_agent(self) -> ModelConfig:
        """The agent's model config, with τ²'s sampling default (temperature 0.0) where the
        study leaves it unset: people meet the agent simulators meet (docs/protocol.md)."""
        from simgap.sessions.protocol import TAU2

        cfg = ModelConfig.model_validate(self.agent.model_dump(exclude={"name"}))
        return TAU2.sampled(cfg, role="agent")

    def load_questionnaire(self, *, base_dir: Path | None = None) -> Questionnaire:
        q = self.questionnaire
        if q.endswith((".yaml", ".yml")):
            p = Path(q)
            if not p.is_absolute() and base_dir is not None:
                p = base_dir / p
            try:
                data = yaml.safe_load(p.read_text(encoding="utf-8"))
                return Questionnaire.model_validate(data)
            except OSError as e:
                raise ConfigError(f"questionnaire {p}: cannot read ({e.strerror})") from None
            except UnicodeDecodeError as e:
                raise ConfigError(f"questionnaire {p}: not UTF-8 text (byte {e.start})") from None
            except yaml.YAMLError as e:
                raise ConfigError(f"questionnaire {p}: not valid YAML ({e})") from None
            except ValidationError as e:
                raise ConfigError(f"questionnaire {p}: {_describe(e)}") from None
        try:
            return load_questionnaire(q)
        except FileNotFoundError:
            raise ConfigError(
                f"field questionnaire: no built-in questionnaire {q!r} (give a .yaml path)"
            ) from None


def demo_config() -> StudyConfig:
    """`simgap study serve --demo`: three airline tasks, the embedded agent, open access."""
    return StudyConfig(
        name="demo",
        title="simgap demo study (airline)",
        domain="airline",
        tasks=["0", "1", "19"],
        people_per_task=1,
        batches=["demo"],
        tasks_per_participant=3,
        agent=StudyAgentConfig(model="local"),
        access=AccessConfig(mode=AccessMode.OPEN),
        completion=CompletionConfig(code="DEMO-DONE"),
        synthetic=False,
    )


def _describe(e: ValidationError) -> str:
    err = e.errors()[0]
    loc = ".".join(str(x) for x in err["loc"]) or "(config)"
    msg = str(err["msg"]).removeprefix("Value error, ")
    return f"field {loc}: {msg}"


def make_study_config(data: dict[str, Any], *, where: str = "study config") -> StudyConfig:
    try:
        return StudyConfig.model_validate(data)
    except ValidationError as e:
        raise ConfigError(f"{where}: {_describe(e)}") from None
    except ConfigError as e:  # check_domain inside a validator
        raise ConfigError(f"{where}: field domain: {e}") from None


def load_study_config(path: str | Path) -> StudyConfig:
    """Read and validate a study YAML; every error is one line naming the file and field."""
    p = Path(path)
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{p}: cannot read ({e.strerror})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text (byte {e.start})") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark is not None else str(p)
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{p}: expected a mapping of settings, got {type(data).__name__}")
    return make_study_config(data, where=str(p))


EXAMPLE_CONFIG = """\
# simgap human study: real people play the customer, then rate the conversation.
# Serve it with:  simgap study serve --config {path} --db study.db
# (PostgreSQL:    simgap study serve --config {path} --db postgresql+psycopg://user@host/db)

name: pilot                 # stored in every session's meta.study; letters, digits, _ - .
title: "Customer service study"
domain: airline             # airline | retail | telecom | mock
split: base                 # τ²-bench task split
tasks: ["0", "1", "19"]     # task ids, or a number N for the first N tasks of the split

# Balanced assignment: each task gets people_per_task people, spread over the batches
# (3 people and 3 batches = one person per task in each batch, as in the paper).
people_per_task: 3
batches: [batch1, batch2, batch3]
tasks_per_participant: 1    # how many different tasks one person may do (never the same twice)
abandon_after_minutes: 30   # an idle assignment is released (session marked abandoned)

agent:                      # the agent under test
  name: llm
  model: local              # embedded offline model; or e.g. openai/gpt-4.1-mini
  # api_base: http://127.0.0.1:8001/v1
  # api_key_env: OPENAI_API_KEY   # the NAME of the variable holding the key, never the key
  # temperature: 0.0       # unset: τ²'s default, 0.0

access:
  mode: crowd               # crowd: /start?PROLIFIC_PID=...  token: /start?token=...  open: anyone
  crowd_param: PROLIFIC_PID
  keep_params: [STUDY_ID, SESSION_ID]

completion:
  code: CHANGE-ME           # shown at the end (one code for everybody); omit for per-person codes
  # url: "https://app.prolific.com/submissions/complete?cc={{code}}"

questionnaire: usi          # built-in (the paper's eight fields) or a path to a YAML file
max_message_chars: 2000     # longest chat message a participant may send
max_user_turns: 40          # the chat ends after this many participant messages
# max_active_chats: 1       # chats at once; more people wait on a "you are next" page
#                           # (default: 1 for the embedded model, no cap for hosted models)

# Admin pages (/admin): set SIMGAP_ADMIN_PASSWORD in the environment, or paste the hash printed
# by `simgap study hash-password` here (never the password itself).
# admin_password_hash: "scrypt$..."
cookie_secure: false        # true when served over HTTPS
# trusted_proxies: [127.0.0.1]  # behind a reverse proxy: believe its X-Forwarded-For header
"""
