"""The parametric customer's words: one small phrase list per marker and per move.

Each phrase is chosen so that simgap's annotator counts it as its own marker and as nothing
else (checked against the USI lexicons and the rule codebook in
`tests/users/test_phrases.py`): "I think that is right." fires the hedge lexicon, "Thank
you." the politeness lexicon, and neither fires the other. That is what lets a fitted profile
reproduce the measured features, and fitting recover a profile.
"""

from __future__ import annotations

import re

import numpy as np

# -- markers (profile fields of the same name) -------------------------------------------------
MARKER_PHRASES: dict[str, tuple[str, ...]] = {
    "emotion": ("I am frustrated.", "I am getting annoyed.", "I am worried about it."),
    "uncertainty": ("I think that is right.", "I believe that is correct.", "Maybe."),
    "vague": ("It was something like that.", "It was a while ago.", "Or something like that."),
    "certainty": ("Definitely.", "Of course."),
    "accusation": ("This is unacceptable.", "This is your fault."),
    "politeness": ("Please help me with this.", "Thank you.", "Thanks for your help."),
    "clarify_q": ("What do you mean?", "Could you clarify that?"),
    "info_q": ("How long will it take?", "How much will it cost?"),
    "confirm_q": ("Just to be clear, you can do that?", "Can you confirm that for me?"),
}
DASH_OPENERS = ("Hello \u2014", "Right \u2014")  # the em dash: the paper's formality marker
INFORMAL_OPENERS = ("hey", "ok so", "so yeah", "btw")  # chat shorthand the codebook counts

# -- moves -------------------------------------------------------------------------------------
ACKS = ("ok.", "yes.", "go ahead.", "sure.")
CONFIRM = ("Yes, I confirm, go ahead with it.", "Yes, that works for me, go ahead.")
LISTENING = ("Go on, I am listening.",)
UNKNOWN = ("I do not have that information.",)
VAGUE_ANSWERS = ("The one from before.", "Same as last time.")  # a choice left unsaid
WITHHOLD = ("I prefer not to share that yet.", "I don't want to give that out yet.")
STOP = ("That is all for today.", "That is everything for today.")
AFTER_NONE = "I see."  # an error the customer lets pass
FILLERS = (  # context for long turns when the scenario has no more sentences
    "I have been trying to sort this out for a few days now.",
    "It matters a lot to me to get this right.",
    "I have a busy week coming up and need this settled.",
)
ERROR_PHRASES: dict[str, tuple[str, ...]] = {
    "pushes_back": (
        "Are you sure about that?",
        "That can't be right, check again.",
        "I already told you what I need.",
    ),
    "repeats_request": ("Like I said,",),  # followed by the opening request
    "pivots": ("What about another option instead?", "How about a different way to do it?"),
    "gives_up": ("Forget it, I will go elsewhere.", "Forget it, this is going nowhere."),
    "escalates": ("I want to talk to a human agent.", "Can I speak to a supervisor?"),
}
# A long turn has more than this many words. (The codebook's `long` bucket starts at 21, but
# a turn with several markers reaches that without any elaboration; at 31 it almost never
# does, so `elaborate` stays identifiable.)
LONG_TURN_WORDS = 30


def pick(rng: np.random.Generator, options: tuple[str, ...]) -> str:
    return options[int(rng.integers(len(options)))]


def lower_first(text: str) -> str:
    """'My user id…' -> 'my user id…' (not for 'I', ids or acronyms such as 'HAT039')."""
    if len(text) > 1 and text[0].isupper() and text[1].islower():
        return text[0].lower() + text[1:]
    return text


_SENTENCE_START = re.compile(r"(^|[.!?]\s+)([A-Z])(?=[a-z])")


def casual(text: str, rng: np.random.Generator) -> str:
    """The same words typed casually: shorthand opener, lowercase 'i', 'im', no final dot."""
    out = re.sub(r"\bI am\b", "im", text)
    out = re.sub(r"\bI'm\b", "im", out)
    out = re.sub(r"\bdo not\b", "dont", out)
    out = re.sub(r"\bI\b", "i", out)
    out = _SENTENCE_START.sub(lambda m: m[1] + m[2].lower(), out)
    out = out.rstrip(".")
    return f"{pick(rng, INFORMAL_OPENERS)} {out}"


def corrupt_id(token: str) -> str:
    """A plausible slip on an id: its last two letters or digits swapped ('9957' -> '9975')."""
    chars = list(token)
    idx = [i for i, c in enumerate(chars) if c.isalnum()]
    for a, b in zip(reversed(idx[:-1]), reversed(idx[1:]), strict=True):
        if chars[a] != chars[b]:
            chars[a], chars[b] = chars[b], chars[a]
            return "".join(chars)
    return token + "0"


def self_correct(body: str, ids: list[str]) -> str:
    """The customer corrects itself: a wrong id then the right one, or 'I mean, …'."""
    if ids:
        wrong = corrupt_id(ids[0])
        return f"{body.replace(ids[0], wrong, 1)} Wait, no, I meant {ids[0]}."
    return f"I mean, {lower_first(body)}"
