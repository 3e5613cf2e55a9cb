"""`probe`: a deterministic, model-free, gold-informed and information-gated agent.

A measuring instrument for the user side. τ²-bench checks its user simulators with a
gold-informed agent (`LLMGTAgent`, registered as `llm_agent_gt`: an LLM told the resolution
steps); this is its model-free, reproducible counterpart. It knows the task's gold actions and
the information the task requires to be communicated (τ²'s evaluation criteria), and follows
the domain policy's protocol, but it may execute a gold action only once every value that
action needs from the customer has been said by the customer in this conversation (see
`probe_plan` for which values those are, `disclosure` for when a value counts as said):

* it asks for what is missing, one thing at a time, in plain words that vary;
* before every write action it describes the change and waits for an explicit yes (a no
  leaves the change undone; three answers that are neither count as a no);
* it runs read and generic actions (lookups, calculations) as soon as they are unlocked;
* it transfers where the gold does, with the policy's hold message;
* it tells the customer the information the task requires, then asks whether there is
  anything else; any further request is refused as outside policy;
* it never reads the scenario text and never says a value the customer has not said.

With the agent's ability held fixed, a session's τ² reward then measures what the simulated
customer disclosed and agreed to. The probe keeps no state of its own: every reply is derived
from the transcript (its own past moves are in its turns' `meta.probe`), so a resumed session
continues exactly, and the same transcript and seed always give the same reply.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from simgap.agents import probe_words as w
from simgap.agents.base import Agent, AgentReply
from simgap.agents.disclosure import normalise, said
from simgap.agents.probe_plan import ProbePlan, Step
from simgap.models import AgentSpec, Role, ToolCall, Turn

MAX_UNCLEAR_CONFIRMATIONS = 3


@dataclass
class _State:
    """What the transcript says about the conversation so far."""

    disclosed: str = ""  # normalised text of everything the customer said
    executed: int = 0  # gold steps the probe has run (it runs only gold steps, in order)
    declined: set[int] = field(default_factory=set)
    transferred: bool = False
    last_meta: dict[str, Any] = field(default_factory=dict)  # of the last agent text turn
    reply_to_last: str | None = None  # the customer's words since the last agent text turn
    unreported: list[tuple[Step, Turn]] = field(default_factory=list)  # writes not yet reported
    moves: Counter[str] = field(default_factory=Counter)  # agent text moves so far, by kind
    asks: Counter[str] = field(default_factory=Counter)  # questions so far, by thing
    confirms: Counter[int] = field(default_factory=Counter)  # confirmations so far, by step
    agent_text: str = ""  # everything the probe said (lower case)
    tool_results: list[str] = field(default_factory=list)

    @property
    def next_step(self) -> int:
        return self.executed + len(self.declined)


class ProbeAgent(Agent):
    """The probe agent for one session (see the module docstring)."""

    def __init__(self, spec: AgentSpec, plan: ProbePlan) -> None:
        self.spec = spec
        self.plan = plan

    # -- reading the transcript ------------------------------------------------------------------
    def _state(self, history: Sequence[Turn]) -> _State:
        s = _State()
        user_words: list[str] = []
        results: dict[str, Turn] = {t.tool_call_id or "": t for t in history if t.role == Role.TOOL}
        since_text: list[str] = []
        for t in history:
            if t.role == Role.USER and not t.tool_calls and t.content:
                user_words.append(t.content)
                since_text.append(t.content)
            elif t.role == Role.AGENT and t.tool_calls and not t.meta.get("initial"):
                call_meta = t.meta.get("probe") or {}
                if "declined" in call_meta:
                    s.declined.add(int(call_meta["declined"]))
                for tc in t.tool_calls:
                    if s.next_step < len(self.plan.steps):
                        step = self.plan.steps[s.next_step]
                        s.executed += 1
                        if step.transfers:
                            s.transferred = True
                        result = results.get(tc.id)
                        if result is not None:
                            s.tool_results.append(result.content or "")
                            if step.writes:
                                s.unreported.append((step, result))
            elif t.role == Role.AGENT and t.content:
                meta = dict(t.meta.get("probe") or {})
                s.last_meta = meta
                s.unreported = []
                since_text = []
                s.agent_text += " " + t.content.lower()
                if "move" in meta:
                    s.moves[str(meta["move"])] += 1
                if meta.get("move") == "ask":
                    s.asks[str(meta.get("thing"))] += 1
                if meta.get("move") == "confirm":
                    s.confirms[int(meta["step"])] += 1
                if "declined" in meta:
                    s.declined.add(int(meta["declined"]))
        s.disclosed = normalise(" ".join(user_words))
        s.reply_to_last = " ".join(since_text) if since_text else None
        return s

    # -- replying ------------------------------------------------------------------------------
    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> AgentReply:
        return self.next_reply(history, seed=seed)

    def next_reply(self, history: Sequence[Turn], *, seed: int | None = None) -> AgentReply:
        """The next move (synchronous: nothing to wait for)."""
        s = self._state(history)
        vary = (seed or 0) % 5
        if s.transferred:
            return self._say(w.TRANSFER, move="transfer_notice")
        prefix = self._reports(s, vary)
        k = s.next_step
        meta: dict[str, Any] = {}
        last = s.last_meta
        if (
            last.get("move") == "confirm"
            and last.get("step") == k
            and s.reply_to_last is not None
            and k < len(self.plan.steps)
        ):
            answer = w.yes_no(s.reply_to_last)
            step = self.plan.steps[k]
            if answer is True:
                return self._call(step, history)
            if answer is None and s.confirms[k] < MAX_UNCLEAR_CONFIRMATIONS:
                desc, _ = w.describe(step.name, step.arguments, w.item_names(s.tool_results))
                text = w.pick(w.CONFIRM_AGAIN, vary + s.confirms[k]).format(desc=desc)
                return self._say(text, move="confirm", step=k)
            prefix.append(w.pick(w.DECLINED, vary + len(s.declined)))
            meta["declined"] = k
            k += 1
        return self._advance(k, s, prefix, meta, vary, history)

    def _advance(
        self,
        k: int,
        s: _State,
        prefix: list[str],
        meta: dict[str, Any],
        vary: int,
        history: Sequence[Turn],
    ) -> AgentReply:
        """The next gold step from `k` on: ask, confirm or run it; or wrap up when none is left."""
        if k < len(self.plan.steps):
            step = self.plan.steps[k]
            missing = step.missing(s.disclosed)
            if missing:
                thing = missing[0].thing
                n = s.asks[thing]
                options = w.ASK if n == 0 else w.ASK_AGAIN
                text = w.pick(options, vary + n + sum(s.asks.values())).format(label=w.label(thing))
                return self._say(*prefix, text, move="ask", step=k, thing=thing, **meta)
            if step.writes:
                desc, _ = w.describe(step.name, step.arguments, w.item_names(s.tool_results))
                text = w.pick(w.CONFIRM, vary + s.moves["confirm"]).format(desc=desc)
                return self._say(*prefix, text, move="confirm", step=k, **meta)
            # A lookup, a calculation or a transfer: run it now. Reports of earlier changes
            # wait for the next message; a decline is recorded in this call's meta.
            return self._call(step, history, **meta)
        return self._wrap_up(s, prefix, meta, vary)

    def _wrap_up(self, s: _State, prefix: list[str], meta: dict[str, Any], vary: int) -> AgentReply:
        """Every gold step is done (or declined): information, then "anything else?"."""
        said_text = s.agent_text.replace(",", "")  # as τ²'s communicate check reads it
        missing_info = [i for i in self.plan.communicate if i.lower() not in said_text]
        wrapped = s.moves["anything_else"] + s.moves["refuse"] + s.moves["goodbye"] > 0
        anything = w.pick(w.ANYTHING_ELSE, vary + s.moves["anything_else"] + s.moves["refuse"])
        if missing_info or not wrapped:
            info = (
                [w.pick(w.INFO, vary).format(info="; ".join(missing_info))] if missing_info else []
            )
            if not self._changes_anything() and not self.plan.communicate and not prefix:
                refusal = w.pick(w.REFUSE, vary + s.moves["refuse"])
                return self._say(refusal, anything, move="refuse", **meta)
            return self._say(*prefix, *info, anything, move="anything_else", **meta)
        if s.reply_to_last is not None and w.closing(s.reply_to_last):
            return self._say(*prefix, w.pick(w.GOODBYE, vary), move="goodbye", **meta)
        refusal = w.pick(w.REFUSE, vary + s.moves["refuse"])
        return self._say(*prefix, refusal, anything, move="refuse", **meta)

    def _changes_anything(self) -> bool:
        return any(st.writes or st.transfers for st in self.plan.steps)

    def _reports(self, s: _State, vary: int) -> list[str]:
        """ "Done" (or "did not go through") for each write run since the probe last spoke."""
        out = []
        names = w.item_names(s.tool_results)
        for i, (step, result) in enumerate(s.unreported):
            _, past = w.describe(step.name, step.arguments, names)
            if result.tool_error:
                error = (result.content or "error").splitlines()[0][:160]
                out.append(w.NOT_DONE.format(error=error))
            else:
                out.append(w.pick(w.DONE, vary + s.moves["anything_else"] + i).format(past=past))
        return out

    def _say(self, *parts: str, move: str, **meta: Any) -> AgentReply:
        text = " ".join(p.strip() for p in parts if p and p.strip())
        return AgentReply(content=text, meta={"probe": {"move": move, **meta}})

    def _call(self, step: Step, history: Sequence[Turn], **meta: Any) -> AgentReply:
        call = ToolCall(
            id=f"probe_{len(history)}_{step.index}", name=step.name, arguments=step.arguments
        )
        return AgentReply(
            tool_calls=[call], meta={"probe": {"move": "call", "step": step.index, **meta}}
        )


def gate_open(step: Step, customer_text: str) -> bool:
    """Whether every customer value of `step` occurs in `customer_text` (raw, any case)."""
    canon = normalise(customer_text)
    return all(said(n.value, canon) for n in step.needed)


__all__ = ["ProbeAgent", "gate_open"]
