"""What a sweep will cost before it runs: model calls, tokens and dollars, per model.

A sweep of 31 simulators × 165 tasks × several trials is tens of thousands of calls, so
`simgap sweep` prints this plan and asks before spending. Two sources, best first:

* **measured**: finished sessions already in the store with the same agent model (for the
  agent side) or the same simulator (for the user side); their mean calls and tokens per
  session are used as is;
* **assumed**: a τ²-shaped conversation (`ConversationShape`) whose system prompts are the
  real ones of the domain (policy + tool schemas for the agent, scenario for the user),
  counted with litellm's tokenizer, and whose history grows turn by turn.

Dollars come from litellm's price table (`litellm.cost_per_token`). A hosted model that table
does not price is reported as unpriced, never as free. Sessions already `done` in the store
are not counted: a resumed sweep only pays for what is left.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from simgap.llm.base import ModelConfig
from simgap.models import SessionStatus, Task
from simgap.sessions.driver import DEFAULT_MAX_STEPS
from simgap.sessions.plan import SessionPlan
from simgap.store import SessionFilter, Store


@dataclass(frozen=True)
class ConversationShape:
    """The assumed conversation when nothing was measured yet.

    Defaults follow τ²-bench airline runs: about eight customer turns, each answered after about
    one tool call (so two agent calls per customer turn), short messages, longer tool results.
    """

    user_turns: float = 8.0
    agent_calls_per_user_turn: float = 2.0
    message_tokens: float = 60.0
    tool_result_tokens: float = 250.0
    agent_completion_tokens: float = 80.0
    user_completion_tokens: float = 40.0

    def steps(self) -> float:
        """τ² steps (every message, tool results included) of this conversation: the agent's
        greeting, then per customer turn its message, the agent's calls and, for every call
        but the last (the answer), one tool result."""
        a = self.agent_calls_per_user_turn
        return 1 + self.user_turns * (1 + a + max(0.0, a - 1))

    def capped(self, max_steps: int | None) -> ConversationShape:
        """The same conversation cut where τ²'s step limit ends it (`max_steps`)."""
        if max_steps is None or self.steps() <= max_steps:
            return self
        a = self.agent_calls_per_user_turn
        per_turn = 1 + a + max(0.0, a - 1)
        return replace(self, user_turns=max(0.0, (max_steps - 1) / per_turn))


@dataclass
class PerSession:
    """Mean calls and tokens one session costs one side (agent or simulator)."""

    calls: float
    prompt_tokens: float
    completion_tokens: float
    basis: str  # "measured (N sessions)" or "assumed"


@dataclass
class ModelLine:
    """One row of the plan: a model in a role, over the sessions still to run."""

    role: str  # "agent" or "user:<preset>"
    model: str
    sessions: int
    calls: float
    prompt_tokens: float
    completion_tokens: float
    cost_usd: float | None  # None: not in litellm's price table
    basis: str

    @property
    def offline(self) -> bool:
        return self.model in ("", "none") or self.model.startswith("local")


@dataclass
class PlanEstimate:
    planned: int
    already_done: int
    lines: list[ModelLine] = field(default_factory=list)

    @property
    def to_run(self) -> int:
        return self.planned - self.already_done

    @property
    def calls(self) -> float:
        return sum(x.calls for x in self.lines)

    @property
    def tokens(self) -> float:
        return sum(x.prompt_tokens + x.completion_tokens for x in self.lines)

    @property
    def cost_usd(self) -> float:
        """Dollars over the priced lines (see `unpriced` for the rest)."""
        return sum(x.cost_usd or 0.0 for x in self.lines)

    @property
    def unpriced(self) -> list[str]:
        return sorted({x.model for x in self.lines if x.cost_usd is None and x.calls > 0})

    @property
    def spends_money(self) -> bool:
        """Whether any hosted model would be called (priced or not)."""
        return any(not x.offline and x.calls > 0 for x in self.lines)


def count_tokens(text: str) -> int:
    """Tokens of `text` by litellm's default tokenizer (offline, bundled with litellm)."""
    import litellm

    return int(litellm.token_counter(text=text))


def price(model: str, prompt_tokens: float, completion_tokens: float) -> float | None:
    """Dollars from litellm's table; 0 for the embedded model; None when the table has no price.

    A hosted model listed at $0 for both directions is treated as unpriced, since a real bill is
    expected and a printed "$0.00" would mislead.
    """
    if model.startswith("local"):
        return 0.0
    import litellm

    try:
        p, c = litellm.cost_per_token(
            model=model,
            prompt_tokens=round(prompt_tokens),
            completion_tokens=round(completion_tokens),
        )
    except Exception:  # litellm raises several types for an unmapped model
        return None
    total = float(p) + float(c)
    if total == 0.0 and (prompt_tokens or completion_tokens):
        return None
    return total


def assumed_agent(system_tokens: float, shape: ConversationShape) -> PerSession:
    """Agent calls re-send the growing history: call k sees the system prompt + k exchanges."""
    calls = shape.user_turns * shape.agent_calls_per_user_turn
    per_exchange = shape.message_tokens + shape.tool_result_tokens / shape.agent_calls_per_user_turn
    history = per_exchange * calls * (calls - 1) / 2
    return PerSession(
        calls=calls,
        prompt_tokens=system_tokens * calls + history,
        completion_tokens=shape.agent_completion_tokens * calls,
        basis="assumed",
    )


def assumed_user(system_tokens: float, shape: ConversationShape) -> PerSession:
    """The simulator sees only text: its system prompt plus two messages per earlier turn."""
    calls = shape.user_turns
    history = 2 * shape.message_tokens * calls * (calls - 1) / 2
    return PerSession(
        calls=calls,
        prompt_tokens=system_tokens * calls + history,
        completion_tokens=shape.user_completion_tokens * calls,
        basis="assumed",
    )


def measured(
    store: Store, flt: SessionFilter, side: str, *, max_steps: int | None = None
) -> PerSession | None:
    """Mean usage per finished session matching `flt` (`side` is "agent" or "user").

    With `max_steps`, only sessions run under that step limit count (sessions that recorded
    none count when it is τ²'s default): a session of a longer limit costs more."""
    n = 0
    calls = prompt = completion = 0.0
    for s in store.iter_sessions(flt, with_turns=False):
        if max_steps is not None:
            ran_with = s.meta.get("max_steps", DEFAULT_MAX_STEPS)
            if ran_with != max_steps:
                continue
        u = s.agent_usage if side == "agent" else s.user_usage
        if u.calls == 0:
            continue
        n += 1
        calls += u.calls
        prompt += u.prompt_tokens
        completion += u.completion_tokens
    if n == 0:
        return None
    return PerSession(calls / n, prompt / n, completion / n, f"measured ({n} sessions)")


def _agent_system_tokens(task: Task) -> int:
    from simgap.domains import DomainEnvironment

    env = DomainEnvironment(task)
    return count_tokens(env.policy) + count_tokens(json.dumps(env.agent_tools()))


def _user_system_tokens(task: Task) -> int:
    from simgap.domains import user_scenario_text

    # τ²'s user guidelines are about 900 tokens on top of the scenario.
    return count_tokens(user_scenario_text(task)) + 900


def estimate_plan(
    plans: Sequence[SessionPlan],
    *,
    agent_config: ModelConfig,
    store: Store | None = None,
    shape: ConversationShape | None = None,
    max_steps: int | None = None,
) -> PlanEstimate:
    """Calls, tokens and dollars of the sessions in `plans` not yet done in `store`.

    `max_steps` (the sweep's τ² step limit) cuts the assumed conversation where the limit
    would end it, and restricts measured sessions to those run under the same limit."""
    shape = (shape or ConversationShape()).capped(max_steps)
    statuses = store.statuses([p.session_id for p in plans]) if store is not None else {}
    todo = [p for p in plans if statuses.get(p.session_id) != SessionStatus.DONE]
    est = PlanEstimate(planned=len(plans), already_done=len(plans) - len(todo))
    if not todo:
        return est

    by_domain: dict[str, Task] = {}
    for p in todo:
        by_domain.setdefault(p.task.domain, p.task)
    done = SessionFilter(statuses=[SessionStatus.DONE])

    # Agent: one line for the whole sweep.
    agent_model = agent_config.model
    agent_ps: PerSession | None = None
    if store is not None:
        agent_ps = measured(
            store,
            SessionFilter(statuses=done.statuses, agent_model=agent_model),
            "agent",
            max_steps=max_steps,
        )
    if agent_ps is None:
        sys_tokens = sum(_agent_system_tokens(t) for t in by_domain.values()) / len(by_domain)
        agent_ps = assumed_agent(sys_tokens, shape)
    est.lines.append(_line("agent", agent_model, len(todo), agent_ps))

    # Users: one line per preset.
    per_preset: dict[str, list[SessionPlan]] = defaultdict(list)
    for p in todo:
        per_preset[p.preset.name].append(p)
    for name, group in per_preset.items():
        preset = group[0].preset
        if preset.model is None:
            est.lines.append(
                ModelLine(f"user:{name}", "none", len(group), 0, 0, 0, 0.0, "no model (parametric)")
            )
            continue
        user_ps: PerSession | None = None
        if store is not None:
            user_ps = measured(
                store,
                SessionFilter(statuses=done.statuses, user_ids=[name]),
                "user",
                max_steps=max_steps,
            )
        if user_ps is None:
            sys_tokens = sum(_user_system_tokens(p.task) for p in group) / len(group)
            user_ps = assumed_user(sys_tokens, shape)
        est.lines.append(_line(f"user:{name}", preset.model.model, len(group), user_ps))
    return est


def _line(role: str, model: str, sessions: int, ps: PerSession) -> ModelLine:
    prompt = ps.prompt_tokens * sessions
    completion = ps.completion_tokens * sessions
    return ModelLine(
        role=role,
        model=model,
        sessions=sessions,
        calls=ps.calls * sessions,
        prompt_tokens=prompt,
        completion_tokens=completion,
        cost_usd=price(model, prompt, completion),
        basis=ps.basis,
    )
