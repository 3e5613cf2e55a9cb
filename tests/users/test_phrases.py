"""Each phrase of the parametric customer fires its own annotator marker and nothing else.

This ties `simgap.users.phrases` to the USI lexicons and the rule codebook: if either side
changes so that a phrase counts twice (a hedge that is also a withholding, a refusal that is
also a pivot), fitted profiles would drift from the features they are meant to reproduce.
"""

from __future__ import annotations

import numpy as np
import pytest

from simgap.annotate import lexicons as lx
from simgap.annotate.context import TurnContext
from simgap.annotate.profile_fit import error_reaction, turn_markers
from simgap.models import Role, Turn
from simgap.users import phrases as ph


def ctx(text: str) -> TurnContext:
    return TurnContext(
        turn=Turn(idx=1, role=Role.USER, content=text),
        text=text,
        position=1,
        prev_agent_text="",
        after_error=False,
        error_reason=None,
        earlier_user_texts=(),
    )


def fired(text: str) -> set[str]:
    """Every fitter-visible signal a text carries."""
    out = {k for k, v in turn_markers(ctx(text)).items() if v}
    if (r := error_reaction(text)) != "none":
        out.add(f"react:{r}")
    if lx.WITHHOLD.search(text.lower()):
        out.add("withhold")
    if lx.ACK_ONLY.match(text.strip().lower()):
        out.add("ack")
    return out


MARKER_CASES = [(k, p) for k, ps in ph.MARKER_PHRASES.items() for p in ps]


@pytest.mark.parametrize(("key", "phrase"), MARKER_CASES)
def test_marker_phrases_fire_only_their_marker(key: str, phrase: str) -> None:
    got = fired(phrase) - {"ack"}  # markers decorate longer turns, never stand alone
    if key == "uncertainty":  # hedges are vague too; the fitter counts vague without hedges
        got.discard("vague")
    assert got == {key}


ERROR_CASES = [(k, p) for k, ps in ph.ERROR_PHRASES.items() for p in ps]


@pytest.mark.parametrize(("reaction", "phrase"), ERROR_CASES)
def test_error_reactions_fire_only_their_reaction(reaction: str, phrase: str) -> None:
    text = phrase if reaction != "repeats_request" else f"{phrase} I want to cancel ABC123."
    assert fired(text) == {f"react:{reaction}"}


@pytest.mark.parametrize(
    "phrase",
    [*ph.CONFIRM, *ph.LISTENING, *ph.UNKNOWN, *ph.STOP, *ph.FILLERS, ph.AFTER_NONE],
)
def test_plain_phrases_fire_nothing(phrase: str) -> None:
    assert fired(phrase) == set()


def test_withhold_ack_dash_informal_and_self_correction() -> None:
    for p in ph.WITHHOLD:
        assert fired(p) == {"withhold"}
    for p in ph.ACKS:
        assert "ack" in fired(p) and len(p.split()) <= 3
    for p in ph.DASH_OPENERS:
        assert fired(f"{p} I want to cancel it.") == {"formal_dash"}
    rng = np.random.default_rng(0)
    for _ in range(8):
        assert fired(ph.casual("My user id is ana_lee_1234. Thank you.", rng)) == {
            "informal",
            "politeness",
        }
    assert fired(ph.self_correct("My user id is ana_lee_1234.", ["ana_lee_1234"])) == {
        "self_correction"
    }
    assert fired(ph.self_correct("I want to cancel it.", [])) == {"self_correction"}


def test_casual_and_corrections_by_hand() -> None:
    rng = np.random.default_rng(1)
    out = ph.casual("I am worried. My id is ABC123. I do not know.", rng)
    assert out.endswith("im worried. my id is ABC123. i dont know")
    assert out.split(" ", 1)[0] in {"hey", "ok", "so", "btw"}
    assert ph.corrupt_id("emma_kim_9957") == "emma_kim_9975"
    assert ph.corrupt_id("EHGLP3") == "EHGL3P"
    assert ph.lower_first("I want it") == "I want it"
    assert ph.lower_first("HAT039 is late") == "HAT039 is late"
    assert ph.lower_first("My id") == "my id"
