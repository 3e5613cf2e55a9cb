"""`behavior`: a parametric, non-LLM customer driven by a `BehaviorProfile`. SYNTHETIC.

It plays the τ² scenario from templates (`scenario.py` cuts the scenario up, `phrases.py`
holds the words). Each turn answers what the agent's last message asks (`agent_moves.py`):

* opening: the reason for the call, with every known detail when it front-loads;
* a request for a detail: the matching known detail (user id, name, reservation), or else
  the sentence of the rest of the scenario that answers it (a choice or a value stated in the
  reason for the call or the instructions: "I am ok with economy …", `statements.py`); bare
  when terse (the value or the option alone), first refused when it withholds, and, for a
  scenario sentence, left vague ("The one from before. Or something like that.") on a turn
  that draws the `vague` marker: people copy ids from their account but are loose about
  choices;
* a proposal: a bare "ok." or a full confirmation;
* an apology, refusal or failure: a reaction drawn from `on_error` (push back, repeat the
  request, pivot, give up and stop, ask for a human) or none; the same draw when the agent
  asks again for something it asked for before (being asked twice is friction too: a
  customer who was vague or withheld may push back, or give up, before it answers);
* "done": "That is all for today. ###STOP###"; a transfer: "###TRANSFER###";
* anything else: the next detail not given yet.

Every turn that is not bare is decorated with the profile's markers, each with its own
probability. It needs no model, costs nothing, and is deterministic for a given session seed
(one random stream per turn, so a resumed session continues exactly). Every reply carries
`meta.synthetic = true`: whatever it produces stands in for people, it is never people.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from simgap.models import Role, Task, Turn
from simgap.users import phrases as ph
from simgap.users.agent_moves import AgentMove, classify_agent_message, requested_words
from simgap.users.base import UserReply, UserSimulator
from simgap.users.profile import MARKERS, QUESTION_MARKERS, BehaviorProfile
from simgap.users.scenario import match_facts, scenario_facts
from simgap.users.statements import (
    Request,
    bare_value,
    best_statement,
    parse_request,
    scenario_statements,
)

STOP_TOKEN = "###STOP###"
TRANSFER_TOKEN = "###TRANSFER###"


class BehaviorSimulator(UserSimulator):
    """A parametric customer for one session."""

    def __init__(self, name: str, task: Task, profile: BehaviorProfile, seed: int | None) -> None:
        self.name = name
        self.profile = profile
        self.scenario = scenario_facts(task)
        self.statements = scenario_statements(task)
        self.seed = seed or 0

    def _rng(self, k: int) -> np.random.Generator:
        # One stream per (session seed, user turn): the same turn is the same after a resume.
        return np.random.default_rng([self.seed, k])

    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> UserReply:
        return self.next_reply(history)

    def next_reply(self, history: Sequence[Turn]) -> UserReply:
        """The next user turn (synchronous: there is nothing to wait for)."""
        mine = [
            t for t in history if t.role == Role.USER and t.content and not t.meta.get("initial")
        ]
        k = len(mine)
        rng = self._rng(k)
        given = {int(i) for t in mine for i in t.meta.get("facts", [])}
        withheld = {int(i) for t in mine for i in t.meta.get("withheld", [])}
        said = {int(i) for t in mine for i in t.meta.get("statements", [])}
        kept = {int(i) for t in mine for i in t.meta.get("withheld_statements", [])}
        agent_text = next(
            (
                t.content
                for t in reversed(history)
                if t.role == Role.AGENT and t.content and not t.tool_calls
            ),
            "",
        )
        if k == 0:
            return self._opening(rng)
        move = classify_agent_message(agent_text)
        if move == AgentMove.TRANSFER:
            return self._reply(TRANSFER_TOKEN, move=move, bare=True)
        if move == AgentMove.DONE or k + 1 >= self.profile.max_turns:
            return self._styled(ph.pick(rng, ph.STOP), rng, move=move, stop=True)
        prefix = ""
        if move == AgentMove.TROUBLE:
            reaction = self.profile.on_error.draw(float(rng.random()))
            if reaction != "none":
                return self._react(reaction, rng)
            prefix, move = ph.AFTER_NONE, AgentMove.STATEMENT
        if move == AgentMove.DETAIL:
            req = parse_request(agent_text)
            if self._asked_before(req, history):  # asked again: friction, as after an error
                reaction = self.profile.on_error.draw(float(rng.random()))
                if reaction != "none":
                    return self._react(reaction, rng, repeated=True)
            found = best_statement(self.statements, req, said)
            idx = match_facts(self.scenario.facts, requested_words(agent_text))
            if req.someone_else:  # "passenger 2's name": not the customer's own name or id
                idx = [i for i in idx if not self.scenario.facts[i].keys & {"name", "id"}]
            if found is not None and (
                found[1] >= 90  # it names an option the agent offered
                or not idx
                or (all(i in given for i in idx) and found[0] not in said)
            ):
                return self._give_statement(found[0], req, found[0] in kept, rng)
            return self._give_detail(idx, req, given, withheld, rng)
        if move == AgentMove.PROPOSAL:
            if rng.random() < self.profile.ack_only:
                return self._reply(ph.pick(rng, ph.ACKS), move=move, bare=True)
            return self._styled(ph.pick(rng, ph.CONFIRM), rng, move=move)
        todo = [i for i in range(len(self.scenario.facts)) if i not in given]
        if todo:
            body = f"{prefix} {self.scenario.facts[todo[0]].sentence}".strip()
            return self._styled(body, rng, move=move, facts=[todo[0]])
        return self._styled(f"{prefix} {ph.pick(rng, ph.LISTENING)}".strip(), rng, move=move)

    # -- moves ---------------------------------------------------------------------------------
    def _opening(self, rng: np.random.Generator) -> UserReply:
        sf = self.scenario
        if rng.random() < self.profile.frontload:
            body = " ".join([sf.opening, *(f.sentence for f in sf.facts)])
            return self._styled(
                body, rng, move="opening", facts=list(range(len(sf.facts))), frontload=True
            )
        return self._styled(sf.opening, rng, move="opening", frontload=False)

    def _give_detail(
        self,
        idx: list[int],
        req: Request,
        given: set[int],
        withheld: set[int],
        rng: np.random.Generator,
    ) -> UserReply:
        """The known details `idx` the request names (else the next one not given yet)."""
        sf = self.scenario
        if not idx:
            own = {"name", "id"} if req.someone_else else set()
            todo = [i for i, f in enumerate(sf.facts) if i not in given and not f.keys & own]
            idx = todo[:1]
        if not idx:
            return self._styled(ph.pick(rng, ph.UNKNOWN), rng, move=AgentMove.DETAIL)
        u_withhold, u_terse = float(rng.random()), float(rng.random())
        if any(i not in withheld for i in idx) and u_withhold < self.profile.withhold:
            return self._styled(ph.pick(rng, ph.WITHHOLD), rng, move=AgentMove.DETAIL, withheld=idx)
        if u_terse < self.profile.terse:
            value = " ".join(sf.facts[i].value for i in idx)
            return self._reply(value, move=AgentMove.DETAIL, bare=True, facts=idx)
        body = " ".join(sf.facts[i].sentence for i in idx)
        return self._styled(body, rng, move=AgentMove.DETAIL, facts=idx)

    def _give_statement(
        self, j: int, req: Request, kept: bool, rng: np.random.Generator
    ) -> UserReply:
        """Statement `j` of the scenario, as the profile gives it: refused once (`withhold`),
        bare (`terse`: the option or value alone), or decorated (vague when `vague` is drawn)."""
        st = self.statements[j]
        u_withhold, u_terse = float(rng.random()), float(rng.random())
        if not kept and u_withhold < self.profile.withhold:
            return self._styled(
                ph.pick(rng, ph.WITHHOLD), rng, move=AgentMove.DETAIL, withheld_statements=[j]
            )
        bare = bare_value(st, req)
        if bare is not None and u_terse < self.profile.terse:
            return self._reply(bare, move=AgentMove.DETAIL, bare=True, statements=[j])
        return self._styled(st.sentence, rng, move=AgentMove.DETAIL, statement=j)

    @staticmethod
    def _asked_before(req: Request, history: Sequence[Turn]) -> bool:
        """Whether an earlier agent message asked for the same thing (same request words,
        numbers and options) as the last one."""
        texts = [
            t.content
            for t in history
            if t.role == Role.AGENT and t.content and not t.tool_calls and not t.meta.get("initial")
        ]
        return any(
            classify_agent_message(e) == AgentMove.DETAIL and parse_request(e).key == req.key
            for e in texts[:-1]
        )

    def _react(self, reaction: str, rng: np.random.Generator, **meta: Any) -> UserReply:
        phrase = ph.pick(rng, ph.ERROR_PHRASES[reaction])
        if reaction == "repeats_request":
            phrase = f"{phrase} {ph.lower_first(self.scenario.opening)}"
        return self._styled(
            phrase,
            rng,
            move=AgentMove.TROUBLE,
            reaction=reaction,
            stop=reaction == "gives_up",
            **meta,
        )

    # -- words ---------------------------------------------------------------------------------
    def _reply(self, text: str, *, move: str, bare: bool = False, **meta: Any) -> UserReply:
        return UserReply(
            content=text,
            meta={
                "synthetic": True,
                "profile": self.profile.name,
                "move": str(move),
                "bare": bare,
                **meta,
            },
        )

    def _styled(
        self,
        body: str,
        rng: np.random.Generator,
        *,
        move: str,
        stop: bool = False,
        facts: list[int] | None = None,
        statement: int | None = None,
        **meta: Any,
    ) -> UserReply:
        """`body` decorated with the profile's markers (each drawn with its probability).

        `statement`: the body is that scenario statement; a turn that draws `vague` says a
        vague phrase instead (the statement is not given)."""
        p = self.profile
        on = {m for m in MARKERS if rng.random() < getattr(p, m)}  # fixed order: stable draws
        if stop:  # a customer who is leaving asks nothing (the fitter skips last turns too)
            on -= QUESTION_MARKERS
        if statement is not None:
            if "vague" in on:
                body = ph.pick(rng, ph.VAGUE_ANSWERS)
                meta["vague_answer"] = statement
            else:
                meta["statements"] = [statement]
        long_turn = rng.random() < p.elaborate
        if "self_correction" in on:
            ids = [tok for i in facts or [] for tok in self.scenario.facts[i].ids]
            body = ph.self_correct(body, ids)
        pre = [ph.pick(rng, ph.MARKER_PHRASES["emotion"])] if "emotion" in on else []
        post = [
            ph.pick(rng, ph.MARKER_PHRASES[m])
            for m in MARKERS
            if m in on and m in ph.MARKER_PHRASES and m != "emotion"
        ]
        context: list[str] = []
        if long_turn:  # a turn that keeps something back does not volunteer the scenario
            keeping = any(k in meta for k in ("withheld", "withheld_statements", "vague_answer"))
            pool = [*([] if keeping else self.scenario.context), *ph.FILLERS]
            start = int(rng.integers(len(pool)))
            for j in range(len(pool)):
                words = len(" ".join([*pre, body, *context, *post]).split())
                if words > ph.LONG_TURN_WORDS:
                    break
                context.append(pool[(start + j) % len(pool)])
        text = " ".join([*pre, body, *context, *post])
        if "formal_dash" in on:
            text = f"{ph.pick(rng, ph.DASH_OPENERS)} {text}"
        if "informal" in on:
            text = ph.casual(text, rng)
        if stop:
            text = f"{text} {STOP_TOKEN}"
        return self._reply(
            text, move=move, facts=facts or [], markers=sorted(on), long=long_turn, **meta
        )
