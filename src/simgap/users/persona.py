"""`persona`: an LLM customer conditioned on a sampled persona (style, not facts).

The paper finds LLM simulators uniform in style: always patient, polite, complete and clear.
A persona samples the dimensions on which people differ (patience, verbosity, formality,
emotional tone, clarity, how they disclose information, how they react to errors, typing
habits, tech-savviness) from the session's seed and adds them to τ²'s own user prompt, so
the task facts stay τ²'s and only the manner varies.
The sampled persona is stored with every user turn (`meta.persona`), so a session can be
explained and reproduced.
"""

from __future__ import annotations

import numpy as np

PERSONA_AXES: dict[str, tuple[str, ...]] = {
    "patience": (
        "very patient",
        "somewhat impatient: you want this over quickly",
        "impatient: you get irritated by repeated questions or delays",
    ),
    "verbosity": (
        "terse: a few words per message",
        "brief: one or two short sentences",
        "chatty: you add context and side remarks",
    ),
    "formality": (
        "casual: lowercase, abbreviations, no greetings",
        "neutral",
        "formal and polite",
    ),
    "emotional_tone": ("calm", "mildly stressed", "frustrated about the situation"),
    "clarity": (
        "clear and precise",
        "a bit vague: you describe things loosely at first",
        "vague: you need the agent's questions to get to the point",
    ),
    "disclosure": (
        "you give details only when asked",
        "you give some details up front and the rest when asked",
        "you give everything you know in your first message",
    ),
    "reaction_to_errors": (
        "you accept what the agent says",
        "you push back when the agent refuses or gets something wrong",
        "you ask for a human agent when things go wrong",
    ),
    "typing": (
        "careful typing",
        "occasional typos and missing punctuation",
        "chat shorthand (u, pls, thx) and typos",
    ),
    "tech_savviness": ("not comfortable with technology", "average", "very comfortable"),
}
PERSONA_VERSION = 2


def sample_persona(seed: int | None) -> dict[str, str]:
    """One value per axis, uniformly, from the session's seed (reproducible: the same seed
    gives the same persona on any machine, so a stored session can be replayed)."""
    rng = np.random.default_rng(seed or 0)
    return {axis: str(rng.choice(values)) for axis, values in PERSONA_AXES.items()}


def persona_instructions(persona: dict[str, str]) -> str:
    """The persona as an addition to τ²'s user prompt (manner only, never the facts)."""
    lines = "\n".join(f"- {axis.replace('_', ' ')}: {value}" for axis, value in persona.items())
    return (
        "## Your persona\n"
        "Play the customer with this personality. It changes how you write, never the facts "
        "of your scenario:\n" + lines + "\nWrite like a real person typing in a chat window, "
        "not like an assistant."
    )
