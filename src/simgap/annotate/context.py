"""What an annotator needs to know about a user turn besides its words.

Most importantly, whether the turn *follows an agent error or refusal* (the error-reaction codes
apply only then). Project definition (the paper's D4 features are session rates and need no
such context): a user turn follows an error when, since the previous user message,

* a tool call returned an error (`Turn.tool_error`), or
* the agent's last message before the turn apologises, refuses or reports a failure — it
  matches `lexicons.AGENT_TROUBLE` ("sorry", "unfortunately", "unable to", "can't",
  "not eligible", "against policy", "could not find", "error", "failed", ...).
"""

from __future__ import annotations

from dataclasses import dataclass

from simgap.annotate import lexicons as lx
from simgap.annotate.features import clean_user_text, is_meta_message
from simgap.models import Role, Session, Turn


@dataclass(frozen=True)
class TurnContext:
    """One countable user turn with its surroundings."""

    turn: Turn
    text: str  # cleaned words (control tokens, markup removed)
    position: int  # 0-based among the session's countable user turns
    prev_agent_text: str  # the agent's last message before this turn ("" if none)
    after_error: bool
    error_reason: str | None  # why after_error is true, for display and the LLM prompt
    earlier_user_texts: tuple[str, ...]

    @property
    def agent_asked(self) -> bool:
        """The agent's previous message asked the user something."""
        return "?" in self.prev_agent_text


def agent_trouble(text: str) -> str | None:
    """The refusal/apology/failure phrase in an agent message, if there is one."""
    m = lx.AGENT_TROUBLE.search(text.lower())
    return m.group(0) if m else None


def user_turn_contexts(session: Session) -> list[TurnContext]:
    """Contexts of the user turns that features and codes look at, in order."""
    out: list[TurnContext] = []
    prev_agent = ""
    tool_failed = False
    earlier: list[str] = []
    for t in session.turns:
        if t.role == Role.TOOL:
            tool_failed = tool_failed or t.tool_error
            continue
        if t.role == Role.AGENT:
            if t.content and t.content.strip():
                prev_agent = t.content.strip()
            continue
        if not t.content or t.meta.get("initial") or is_meta_message(t.content):
            continue
        text = clean_user_text(t.content)
        if not text:
            continue
        phrase = agent_trouble(prev_agent) if prev_agent else None
        reason = (
            "a tool call failed"
            if tool_failed
            else (f"agent said {phrase!r}" if phrase is not None else None)
        )
        out.append(
            TurnContext(
                turn=t,
                text=text,
                position=len(out),
                prev_agent_text=prev_agent,
                after_error=reason is not None,
                error_reason=reason,
                earlier_user_texts=tuple(earlier),
            )
        )
        earlier.append(text)
        tool_failed = False
        prev_agent = ""
    return out
