"""User text as the authors' reference scorer reads it (`simgap score --paper`).

simgap's own cleaning (`features.user_texts`) removes τ² control tokens wherever they occur,
drops turns left empty and treats both sides alike. The authors' scorer (sunnweiwei/OdysSim
`agents/tau_usi/utils.py`, which they state reproduces the paper's table bit for bit) cleans
by side instead, and only whole messages:

* people (the reference side): a message is dropped when its text *starts with* the study
  interface's `\\tau ` / `\\reward` commands, contains a `<|canvas|>` / `<|highlight|>` /
  `<|survey|>` marker, or is exactly `/stop` (surrounding spaces ignored);
* simulators (the candidate side): a message is dropped only when it is exactly `###STOP###`
  (surrounding spaces ignored). A `###STOP###` after other words stays in the turn and counts
  as a word; `###TRANSFER###` and `###OUT-OF-SCOPE###` are ordinary words;
* every remaining user message is a turn, even an empty one or one that is only leaked
  markup (thinking blocks, raw function calls, which are stripped before words are counted):
  it counts as a turn of 0 words.

The 19 features are then the same functions of those texts as in the default mode
(`features.usi_features`). Turns replayed from a τ² task's initial history (`meta.initial`)
and user turns without text (a τ² user tool call) are not in the paper's data and are skipped.
"""

from __future__ import annotations

from typing import Literal

from simgap.annotate import lexicons as lx
from simgap.annotate.features import usi_features
from simgap.models import Role, Session

TextSide = Literal["human", "llm"]
STOP = "###STOP###"


def is_paper_meta(content: str, side: TextSide) -> bool:
    """Whether the authors' scorer drops this whole message before counting."""
    if side == "human":
        return (
            content.startswith(lx.HUMAN_META_PREFIXES)
            or any(m in content for m in lx.HUMAN_META_MARKERS)
            or content.strip() == "/stop"
        )
    return content.strip() == STOP


def paper_user_texts(session: Session, side: TextSide) -> list[str]:
    """The session's user turns as the reference scorer counts them (markup stripped, empty
    turns kept)."""
    out: list[str] = []
    for t in session.turns:
        if t.role != Role.USER or t.content is None or t.meta.get("initial"):
            continue
        if is_paper_meta(t.content, side):
            continue
        out.append(lx.AGENT_MARKUP.sub("", t.content))
    return out


def paper_session_features(session: Session, side: TextSide) -> dict[str, float] | None:
    """The 19 USI features as the reference scorer computes them; None without a user turn."""
    return usi_features(paper_user_texts(session, side))
