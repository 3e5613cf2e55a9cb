"""The parametric customer: deterministic, grounded in the scenario, and its profile is
recovered by `fit_profile` from the sessions it produces (hand-checked tolerances)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from simgap.annotate.profile_fit import fit_profile, session_rates
from simgap.models import Role, Session, Task, Turn, UserKind
from simgap.users import BehaviorProfile
from simgap.users.behavior import BehaviorSimulator, first_person, scenario_facts

TASK = Task(
    domain="airline",
    task_id="t",
    reason_for_call="You want to cancel reservation ABC123. It was booked last week.",
    known_info="You are Ana Lee.\nYour user id is ana_lee_1234.",
)
AGENT_LINES = (
    "Could you give me your user id?",
    "I found the reservation. Shall I proceed with the cancellation?",
    "The reservation has been cancelled.",
)


def converse(profile: BehaviorProfile, seed: int) -> Session:
    """A conversation with a fixed scripted agent (no environment needed)."""
    sim = BehaviorSimulator("behavior", TASK, profile, seed)
    turns = [Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?")]

    async def go() -> None:
        for i in range(40):
            r = await sim.reply(turns)
            turns.append(Turn(idx=len(turns), role=Role.USER, content=r.content, meta=r.meta))
            if r.stop is not None:
                return
            line = AGENT_LINES[min(i, len(AGENT_LINES) - 1)]
            turns.append(Turn(idx=len(turns), role=Role.AGENT, content=line))

    asyncio.run(go())
    return Session(
        session_id=f"synthetic-{seed}",
        task_id="t",
        domain="airline",
        user_kind=UserKind.SIMULATOR,
        user_id="synthetic-behavior",
        turns=turns,
        meta={"synthetic": True},
    )


def test_first_person_and_facts() -> None:
    assert first_person("You are Ana Lee. Your user id is x.") == "My name is Ana Lee. My user id is x."
    opening, facts = scenario_facts(TASK)
    assert opening == "I want to cancel reservation ABC123."
    assert facts == ["My name is Ana Lee.", "My user id is ana_lee_1234."]


def test_deterministic_for_a_seed_and_different_across_seeds() -> None:
    p = BehaviorProfile(politeness=0.5, uncertainty=0.5, emotion=0.5, frontload=0.5)
    a = [t.content for t in converse(p, 3).turns]
    assert a == [t.content for t in converse(p, 3).turns]
    assert any([t.content for t in converse(p, s).turns] != a for s in range(4, 10))


def test_frontloading_customer_discloses_everything_in_the_opening() -> None:
    s = converse(BehaviorProfile(frontload=1.0, politeness=0.0, certainty=0.0, info_q=0.0, clarify_q=0.0), 1)
    opening = s.user_turns[0].content or ""
    assert opening == "I want to cancel reservation ABC123. My name is Ana Lee. My user id is ana_lee_1234."
    assert "###STOP###" in (s.user_turns[-1].content or "")


def test_piecemeal_customer_discloses_one_fact_per_turn() -> None:
    s = converse(BehaviorProfile(frontload=0.0, politeness=0.0, certainty=0.0, info_q=0.0, clarify_q=0.0), 1)
    texts = [t.content for t in s.user_turns]
    assert texts[:3] == [
        "I want to cancel reservation ABC123.",
        "My name is Ana Lee.",
        "My user id is ana_lee_1234.",
    ]


def test_session_rates_by_hand() -> None:
    # 3 turns count ("ok." is a bare acknowledgement): polite in 2, a hedge in 1
    rates = session_rates(["Please cancel it.", "ok.", "I think so. Thank you.", "Done here."])
    assert rates is not None
    assert rates["politeness"] == pytest.approx(2 / 3)
    assert rates["uncertainty"] == pytest.approx(1 / 3)
    assert rates["emotion"] == 0.0


def test_fit_recovers_the_profile_of_synthetic_sessions() -> None:
    true = BehaviorProfile(
        politeness=0.4, uncertainty=0.25, certainty=0.1, emotion=0.2, accusation=0.1,
        clarify_q=0.15, info_q=0.2, formal_dash=0.1, frontload=0.3, max_turns=6,
    )  # fmt: skip
    sessions = [converse(true, seed) for seed in range(400)]
    fitted = fit_profile(sessions, name="fit")
    for k, v in true.rates().items():
        # info_q is only drawn when clarify_q was not: its measured rate is 0.2 * (1 - 0.15)
        want = v * (1 - true.clarify_q) if k == "info_q" else v
        assert fitted.rates()[k] == pytest.approx(want, abs=0.04), k
    assert fitted.frontload == pytest.approx(0.3, abs=0.06)
    assert fitted.max_turns <= true.max_turns
    assert np.isfinite(fitted.politeness)
