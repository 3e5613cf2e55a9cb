"""A conversation between the agent and a simulated user, from first turn to reward."""

from __future__ import annotations

from simgap.models import Session
from simgap.sessions.driver import Actor, SessionDriver
from simgap.users import UserSimulator


async def simulate(driver: SessionDriver, user: UserSimulator) -> Session:
    """Alternate agent and simulator until the driver's protocol ends the conversation.

    A failure of either model that τ² counts against the sample (an empty reply, arguments
    that are not JSON, a context overflow) ends the session inside the driver, scored as τ²
    scores it. Transport failures propagate (`LLMError`); the caller decides whether they end
    the session as failed infrastructure or abort the whole sweep.
    """
    while True:
        if await driver.advance() == Actor.NOBODY:
            return driver.session
        await driver.user_turn(user)
