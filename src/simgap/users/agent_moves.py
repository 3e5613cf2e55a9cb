"""What the agent's last message asks of the customer, as the parametric customer reads it.

One classifier serves the simulator (`behavior.py`, which answers the move) and the fitter
(`simgap.annotate.profile_fit`, which estimates per move how people answered), so a fitted
`terse` or `ack_only` rate means the same thing on both sides. First match wins:

* `transfer`: the agent hands over to a human ("transferring you to a human agent");
* `done`: the agent reports the action done ("has been cancelled", "is confirmed") and asks
  nothing more than "anything else?" (a report followed by a real question, "Done: … Shall I
  also cancel …?", is that question's move);
* `trouble`: it apologises, refuses or reports a failure ("unfortunately", "unable to"),
  the same idea as the annotator's `AGENT_TROUBLE` (kept here, as `users` precedes
  `annotate`);
* `done` again: a bare "is there anything else I can help you with?" (nothing is pending);
* `detail`: it asks for a detail ("could you give me your user id?", "which reservation?",
  "your cabin class?");
* `proposal`: any other question: a decision or confirmation ("shall I proceed?");
* `statement`: anything else.
"""

from __future__ import annotations

import re
from enum import StrEnum


class AgentMove(StrEnum):
    TRANSFER = "transfer"
    DONE = "done"
    TROUBLE = "trouble"
    DETAIL = "detail"
    PROPOSAL = "proposal"
    STATEMENT = "statement"


_TRANSFER = re.compile(r"\btransfer\w*\b.{0,40}\b(human|agent|representative|supervisor)\b")
_DONE = re.compile(
    r"\b(?:has|have) been (?:cancel+ed|updated|modified|booked|refunded|processed|changed|"
    r"issued|sent|added|upgraded|downgraded|exchanged|returned)\b|\bis (?:now )?(?:done|"
    r"cancel+ed|confirmed|complete[d]?|booked|updated)\b|\bsuccessfully\b|\bi (?:have|'ve) "
    r"(?:cancel+ed|updated|modified|booked|refunded|processed|changed|issued|sent|added)\b"
)
_TROUBLE = re.compile(
    r"\b(?:sorry|apolog\w*|unfortunately|unable to|not able to|can(?:'?t|not| not)|"
    r"could(?:n'?t| not)|not (?:possible|allowed|permitted|eligible)|ineligible|"
    r"against (?:our |the )?polic\w*|i'?m afraid|no record|error|failed|invalid)\b"
)
# Nouns that name a detail a customer may be asked for.
DETAIL_NOUNS = (
    "id",
    "name",
    "number",
    "email",
    "e-mail",
    "zip",
    "postcode",
    "code",
    "reservation",
    "order",
    "booking",
    "confirmation",
    "account",
    "address",
    "phone",
    "birth",
    "date",
    "payment",
    "card",
    "class",
    "cabin",
    "city",
    "airport",
    "bag",
    "baggage",
    "passenger",
    "trip",
    "method",
    "reason",
    "item",
    "flight",
    "insurance",
    "amount",
    "product",
)
_NOUN = r"(?:" + "|".join(re.escape(n) for n in DETAIL_NOUNS) + r")s?\b"
_DETAIL_NOUN = re.compile(r"\b" + _NOUN)
# A request for a detail: a request verb, then a determiner, then a detail noun, in one
# sentence ("could you give me your user id?"); or "which reservation ...".
_DETAIL_ASK = re.compile(
    r"\b(?:provide|give|share|tell|send|need|know|confirm|verify|spell|what(?:'s| is| are)|"
    r"may i have|can i have|could i have|look up)\b[^.?!]{0,40}?"
    r"\b(?:your|the|which|what|his|her|their)\b[^.?!]{0,25}?\b"
    + _NOUN
    + r"|\bwhich\s+(?:\w+\s+)?"
    + _NOUN
    + r"|\bwhat(?:'s| is| are)\s+(?:[\w']+\s+){0,2}?"  # "what is passenger 2's name?"
    + _NOUN
)
_QUESTION = re.compile(r"\?|\((?:yes/no|y/n)\)|\byes or no\b")
_ANYTHING_ELSE = re.compile(r"\b(?:anything|something) else\b")


def classify_agent_message(text: str | None) -> AgentMove:
    """The move of one agent message (see the module docstring for the order)."""
    lower = (text or "").lower()
    if not lower.strip():
        return AgentMove.STATEMENT
    if _TRANSFER.search(lower):
        return AgentMove.TRANSFER
    closing = _ANYTHING_ELSE.search(lower) is not None
    pending = _QUESTION.search(_ANYTHING_ELSE.split(lower)[0]) is not None
    if _DONE.search(lower) and (closing or not pending):
        return AgentMove.DONE
    if _TROUBLE.search(lower):
        return AgentMove.TROUBLE
    if closing and not pending:
        return AgentMove.DONE
    if _DETAIL_ASK.search(lower):
        return AgentMove.DETAIL
    if _QUESTION.search(lower):
        return AgentMove.PROPOSAL
    return AgentMove.STATEMENT


def requested_words(text: str) -> set[str]:
    """The detail nouns an agent message names (to pick which known detail to give)."""
    return {m.group(0).removesuffix("s") for m in _DETAIL_NOUN.finditer(text.lower())}
