"""A conversation between the agent and a simulated user, from first turn to reward."""

from __future__ import annotations

import time

from simgap.models import Session, Termination
from simgap.sessions.driver import Actor, SessionDriver
from simgap.users import UserSimulator


async def simulate(driver: SessionDriver, user: UserSimulator) -> Session:
    """Alternate agent and simulator until someone stops or a τ² limit is hit.

    Model failures propagate (`LLMError`); the caller decides whether they end the session as
    failed infrastructure or abort the whole sweep.
    """
    while True:
        if await driver.advance() == Actor.NOBODY:
            return driver.session
        t0 = time.perf_counter()
        reply = await user.reply(driver.turns, seed=driver.session.seed)
        if not reply.tool_calls and not (reply.content and reply.content.strip()):
            # A simulator that says nothing cannot continue the conversation (τ²: USER_ERROR).
            await driver.finish(Termination.USER_ERROR, error="the simulator sent an empty message")
            return driver.session
        await driver.user_step(reply, latency_s=time.perf_counter() - t0)
