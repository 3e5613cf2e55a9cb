"""`behavior`: a parametric, non-LLM customer driven by a `BehaviorProfile`. SYNTHETIC.

It plays the τ² scenario with templates: it states the reason for the call (from the task's
`reason_for_call`), discloses the known details (`known_info`: name, user id, reservation ids)
either all at once or one per turn, answers the agent's requests for them, confirms what the
agent proposes, and ends with ###STOP###. Around that content it adds the style markers of the
profile, each with its per-turn probability. It needs no model, costs nothing, and is
deterministic for a given seed, so it is a reproducible baseline and a controllable stand-in,
never a human.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from simgap.models import Role, Task, Turn
from simgap.users.base import UserReply, UserSimulator
from simgap.users.profile import BehaviorProfile

# Markers: each makes the USI feature of the same name fire, and nothing else.
POLITE = ("Please help me with this.", "Thank you.", "Thanks for your help.")
UNCERTAIN = ("I think that is right.", "I am not sure about the details.", "Maybe.")
CERTAIN = ("Definitely.", "Of course.")
EMOTION = ("I am frustrated.", "I am getting annoyed.", "I am worried about it.")
ACCUSE = ("This is unacceptable.", "This is your fault.")
CLARIFY = ("What do you mean?", "Could you clarify that?")
INFO_Q = ("How long will it take?", "How much will it cost?")
ACKS = ("ok.", "go ahead.", "yes.")

_DONE = re.compile(
    r"\b(cancel+ed|updated|modified|booked|refund(?:ed)? (?:has been|will be)|is done|completed|"
    r"confirmed|processed|transfer(?:red)?)\b"
)
_PROPOSAL = re.compile(r"\?\s*$|\b(confirm|proceed|shall i|would you like|do you want)\b")


def first_person(text: str) -> str:
    """τ²'s scenario speaks to the simulator ("You want…, your user id"); the customer speaks
    for themself ("I want…, my user id")."""
    out = re.sub(r"\bYou are\b", "My name is", text)
    out = re.sub(r"\byou are\b", "I am", out)
    out = re.sub(r"\bYour\b", "My", out)
    out = re.sub(r"\byour\b", "my", out)
    out = re.sub(r"\bYou\b", "I", out)
    out = re.sub(r"\byou\b", "me", out)
    out = re.sub(r"\byourself\b", "myself", out)
    return out


def _sentences(text: str | None) -> list[str]:
    if not text:
        return []
    parts = re.split(r"(?<=[.!])\s+|\n+", text.strip())
    return [p.strip() for p in parts if p.strip()]


def scenario_facts(task: Task) -> tuple[str, list[str]]:
    """The opening reason (first sentence of `reason_for_call`) and the known details, in the
    customer's voice."""
    reason = _sentences(task.reason_for_call)
    opening = first_person(reason[0]) if reason else "I need help with my booking."
    facts = [first_person(s) for s in _sentences(task.known_info)]
    return opening, facts


class BehaviorSimulator(UserSimulator):
    """A parametric customer for one session."""

    def __init__(self, name: str, task: Task, profile: BehaviorProfile, seed: int | None) -> None:
        self.name = name
        self.profile = profile
        self.opening, self.facts = scenario_facts(task)
        self.seed = seed or 0

    def _rng(self, n_user_turns: int) -> np.random.Generator:
        # One stream per (session seed, turn): the same turn is the same after a resume.
        return np.random.default_rng([self.seed, n_user_turns])

    async def reply(self, history: Sequence[Turn], *, seed: int | None = None) -> UserReply:
        user_turns = [t for t in history if t.role == Role.USER and t.content]
        k = len(user_turns)
        rng = self._rng(k)
        p = self.profile
        disclosed = int(sum(int(t.meta.get("disclosed", 0)) for t in user_turns))
        agent_text = next(
            (t.content or "" for t in reversed(history) if t.role == Role.AGENT and t.content),
            "",
        ).lower()

        if k == 0:
            if rng.random() < p.frontload:
                body = " ".join([self.opening, *self.facts])
                n_new = len(self.facts)
            else:
                body = self.opening
                n_new = 0
            return self._styled(body, rng, disclosed=n_new, k=k)

        finished = _DONE.search(agent_text) is not None and disclosed >= len(self.facts)
        if finished or k + 1 >= p.max_turns:
            r = self._styled("That is all for today.", rng, disclosed=0, k=k)
            return r.model_copy(update={"content": f"{r.content} ###STOP###"})
        if disclosed < len(self.facts):
            return self._styled(self.facts[disclosed], rng, disclosed=1, k=k)
        if _PROPOSAL.search(agent_text) and rng.random() < p.ack_only:
            return UserReply(content=str(rng.choice(ACKS)), meta={"disclosed": 0, "ack": True})
        return self._styled("Yes, I confirm.", rng, disclosed=0, k=k)

    def _styled(self, body: str, rng: np.random.Generator, *, disclosed: int, k: int) -> UserReply:
        p = self.profile
        pre: list[str] = []
        post: list[str] = []
        if rng.random() < p.uncertainty:
            post.append(str(rng.choice(UNCERTAIN)))
        if rng.random() < p.certainty:
            post.append(str(rng.choice(CERTAIN)))
        if rng.random() < p.emotion:
            pre.append(str(rng.choice(EMOTION)))
        if rng.random() < p.accusation:
            post.append(str(rng.choice(ACCUSE)))
        if rng.random() < p.politeness:
            post.append(str(rng.choice(POLITE)))
        # Question kinds are exclusive in the features (clarification before information).
        if rng.random() < p.clarify_q:
            post.append(str(rng.choice(CLARIFY)))
        elif rng.random() < p.info_q:
            post.append(str(rng.choice(INFO_Q)))
        text = " ".join([*pre, body, *post])
        if rng.random() < p.formal_dash:
            text = f"Hello \u2014 {text}"
        return UserReply(content=text, meta={"disclosed": disclosed, "turn": k})
