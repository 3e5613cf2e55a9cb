"""Rule-based failure attribution: for a failed session, did the agent, the user (simulator) or
the environment cause it? (project definition; the paper does not attribute failures).

Why: a success rate or a success gap says little when a share of the failures comes from the
simulated customer (reported for τ²-style retail runs: about a quarter). Each failed session
(finished, τ² reward < 1) gets one `FailureLabel` with the turn that shows it. Rules are tried
in this order and the first that fires wins:

1. **environment** — `infra_error`: the session ended on infrastructure (termination
   `infra_error`, or an error recorded on the session); `tool_error`: a tool call failed with an
   infrastructure message (timeout, connection, internal/server error, 5xx, unavailable,
   database locked). Tool errors of the "not found / invalid argument" kind are the agent's.
2. **user** (for a simulator: a *simulator error*) —
   `user_error`: τ² stopped on a malformed user message;
   `leaked_goal`: the user talks about its instructions/scenario or says it is a simulator;
   `contradicted_scenario`: the user gives an id, e-mail or code that is neither in its scenario
   nor said earlier by the agent or a tool (needs the task's scenario);
   `out_of_task_request`: the user asks for an action (cancel, return, exchange, refund, book,
   upgrade, …) that its scenario never mentions (needs the scenario);
   `gave_up_early`: one of the user's last two turns gives up ("never mind", "forget it", "I'll
   call back", …);
   `ended_before_agent_finished`: the user stopped the conversation while the agent's last
   message asked it something or announced work still to do ("Shall I proceed?", "Let me
   check…"), other than a closing "anything else?".
3. **agent** — `turn_limit` when the step limit ended it, otherwise `agent_error`: no user or
   environment fault was found, so the agent did not reach the expected end state.

Rules see words, not intent: they are a first pass. The optional LLM judge
(`annotate.failure_judge`) labels the same sessions with the same reasons.
"""

from __future__ import annotations

import re

from simgap.annotate import lexicons as lx
from simgap.models import (
    REASON_CAUSE,
    FailureCause,
    FailureLabel,
    FailureReason,
    Role,
    Session,
    SessionStatus,
    Task,
    Termination,
    Turn,
)

RULES_LABELLER = "rules"
_EVIDENCE_CHARS = 200
_STOP = re.compile(r"###(?:STOP|TRANSFER|OUT-OF-SCOPE)###")

# fmt: off
INFRA_TOOL = lx.any_of([
    r"time[d]? ?out", "timeout", "connection (?:error|refused|reset|aborted)",
    r"internal (?:server )?error", "service unavailable", "server error", r"5\d\d",
    "database (?:is )?(?:locked|unavailable)", "temporarily unavailable", "rate limit",
])
LEAK = lx.any_of([
    "my instructions", r"the instructions (?:say|said|tell|told)", "my scenario", "the scenario",
    r"according to (?:my|the) (?:instructions|task|scenario|script)",
    r"my (?:task|goal) (?:is|says|was)", "known info", "unknown info", "task instructions",
    "reason for call", r"i(?:'m| am) (?:an? )?(?:ai|simulated|simulator|language model)",
    r"as an? (?:ai|simulated user|user simulator|language model)", "user simulator",
    r"i(?:'m| am) supposed to (?:say|ask|pretend)", r"i(?:'m| am) (?:role-?playing|pretending)",
])
GIVE_UP = lx.any_of([
    "never ?mind", "forget it", "forget about it", "i give up", "don't bother",
    r"i(?:'ll| will) (?:just )?(?:call|try|come) (?:back|again|later)", "not worth it",
    r"i(?:'ll| will) (?:figure it out|do it myself|deal with it later|handle it myself)",
    r"let'?s (?:just )?(?:leave|drop) it", "skip it", "doesn't matter anymore",
])
# The agent's message still expects an answer or announces work in progress.
PENDING = lx.any_of([
    "let me", r"i(?:'ll| will) (?:now )?(?:check|look|process|proceed|go ahead|update|cancel)",
    "one moment", "please hold", "please confirm", "shall i", "would you like", "do you want",
    r"can you (?:confirm|provide|tell|share)", r"could you (?:confirm|provide|tell|share)",
    "may i have", "please provide", "please let me know",
])
CLOSING = lx.any_of([
    "anything else", "further assistance", r"have a (?:great|nice|good|wonderful) day",
    "something else", "other questions", "help you with today",
])
# The action words a request can name, by stem (a scenario "mentions" an action when it holds
# any of the stem's words).
ACTIONS: dict[str, tuple[str, ...]] = {
    "cancel": ("cancel",),
    "return": ("return",),
    "exchange": ("exchange", "swap"),
    "refund": ("refund",),
    "book": ("book", "reserv"),
    "upgrade": ("upgrade",),
    "downgrade": ("downgrade",),
    "modify": ("modify", "change", "update", "edit"),
}
REQUEST = re.compile(
    r"\b(?:i want|i'd like|i would like|i need|can you|could you|please|help me|i wish)"
    r"(?: (?:to|you to|me|me to|also|also to))? (?P<verb>cancel\w*|return\w*|exchang\w*|swap\w*"
    r"|refund\w*|book\w*|reserv\w*|upgrad\w*|downgrad\w*|modif\w*|chang\w*|updat\w*|edit\w*)"
)
# Identifiers a user may state: retail order ids, e-mails, user ids (name_surname_1234),
# reservation / confirmation codes (6 upper-case letters and digits with a digit), long numbers.
IDENT = re.compile(
    r"#?w\d{5,}|[\w.+-]+@[\w-]+\.[\w.]+|\b[a-z]+_[a-z]+_\d{3,}\b|\b(?=[a-z]*\d)[a-z0-9]{6}\b"
    r"|\b\d{5,}\b"
)
# fmt: on


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EVIDENCE_CHARS else text[: _EVIDENCE_CHARS - 1] + "…"


def _label(
    session: Session, reason: FailureReason, turn: Turn | None, evidence: str
) -> FailureLabel:
    return FailureLabel(
        session_id=session.session_id,
        cause=REASON_CAUSE[reason],
        reason=reason,
        labeller=RULES_LABELLER,
        evidence_turn=None if turn is None else turn.idx,
        evidence=_quote(evidence),
    )


def is_failed(session: Session) -> bool:
    """Finished with a τ² reward below 1: the sessions attribution applies to."""
    reward = session.reward
    return session.status == SessionStatus.DONE and reward is not None and not reward.success


def _user_turns(session: Session) -> list[Turn]:
    return [
        t for t in session.turns if t.role == Role.USER and t.content and not t.meta.get("initial")
    ]


def _norm_id(token: str) -> str:
    return token.lower().lstrip("#")


def _environment(session: Session) -> FailureLabel | None:
    if session.termination == Termination.INFRA_ERROR or session.error:
        return _label(
            session,
            FailureReason.INFRA_ERROR,
            None,
            f"session ended on infrastructure: {session.error or session.termination}",
        )
    for t in session.turns:
        if t.role == Role.TOOL and t.tool_error and INFRA_TOOL.search(t.text.lower()):
            return _label(session, FailureReason.TOOL_ERROR, t, f"tool failed: {t.text}")
    return None


def _contradiction(session: Session, users: list[Turn], scenario: str) -> FailureLabel | None:
    known = {_norm_id(m.group(0)) for m in IDENT.finditer(scenario.lower())}
    if not known:
        return None  # nothing to contradict: the scenario names no identifiers
    said: set[str] = set()
    counted = {id(t) for t in users}
    for t in session.turns:
        if id(t) in counted:
            for m in IDENT.finditer(t.text.lower()):
                tok = _norm_id(m.group(0))
                if tok not in known and tok not in said:
                    return _label(
                        session,
                        FailureReason.CONTRADICTED_SCENARIO,
                        t,
                        f"gives {m.group(0)!r}, which is not in its scenario: {t.text}",
                    )
        else:
            said |= {_norm_id(m.group(0)) for m in IDENT.finditer(t.text.lower())}
            for call in t.tool_calls:
                said |= {_norm_id(m.group(0)) for m in IDENT.finditer(str(call.arguments).lower())}
    return None


def _out_of_task(session: Session, users: list[Turn], scenario: str) -> FailureLabel | None:
    text = scenario.lower()
    if not text.strip():
        return None
    for t in users:
        for m in REQUEST.finditer(t.text.lower()):
            verb = m.group("verb")
            stem = next(
                (s for s, words in ACTIONS.items() if any(verb.startswith(w) for w in words)),
                None,
            )
            if stem is None or any(w in text for w in ACTIONS[stem]):
                continue
            return _label(
                session,
                FailureReason.OUT_OF_TASK_REQUEST,
                t,
                f"asks to {stem}, which its scenario never mentions: {t.text}",
            )
    return None


def _ended_early(session: Session, users: list[Turn]) -> FailureLabel | None:
    if not users:
        return None
    last = users[-1]
    stopped = session.termination == Termination.USER_STOP or bool(_STOP.search(last.text))
    if not stopped:
        return None
    prev_agent = ""
    for t in session.turns:
        if t is last:
            break
        if t.role == Role.AGENT and t.content and t.content.strip():
            prev_agent = t.content.strip()
    low = prev_agent.lower()
    asks = low.rstrip().endswith("?") or PENDING.search(low) is not None
    if asks and CLOSING.search(low) is None:
        return _label(
            session,
            FailureReason.ENDED_BEFORE_AGENT_FINISHED,
            last,
            f"stopped while the agent said {_quote(prev_agent)!r}: {last.text}",
        )
    return None


def _user(session: Session, task: Task | None) -> FailureLabel | None:
    users = _user_turns(session)
    if session.termination == Termination.USER_ERROR:
        last = users[-1] if users else None
        return _label(
            session,
            FailureReason.USER_ERROR,
            last,
            "τ² stopped on a malformed user message" + (f": {last.text}" if last else ""),
        )
    for t in users:
        if LEAK.search(t.text.lower()):
            return _label(session, FailureReason.LEAKED_GOAL, t, t.text)
    scenario = task.scenario_text() if task is not None else ""
    for check in (_contradiction, _out_of_task):
        found = check(session, users, scenario)
        if found is not None:
            return found
    for t in users[-2:]:
        if GIVE_UP.search(t.text.lower()):
            return _label(session, FailureReason.GAVE_UP_EARLY, t, t.text)
    return _ended_early(session, users)


def _agent(session: Session) -> FailureLabel:
    agent_turns = [t for t in session.turns if t.role == Role.AGENT]
    last = agent_turns[-1] if agent_turns else None
    if session.termination == Termination.MAX_STEPS:
        return _label(session, FailureReason.TURN_LIMIT, last, "the step limit ended the task")
    acted = [t for t in agent_turns if t.tool_calls]
    ev = acted[-1] if acted else last
    where = (
        "no agent turn"
        if ev is None
        else f"its last {'tool call' if ev.tool_calls else 'message'} is turn {ev.idx}"
    )
    return _label(
        session,
        FailureReason.AGENT_ERROR,
        ev,
        "no user or environment fault found: the agent did not reach the expected end state "
        f"(τ² reward 0); {where}",
    )


def attribute_failure(session: Session, task: Task | None = None) -> FailureLabel | None:
    """The rule-based label of a failed session (None when it did not fail or has no reward).

    `task` gives the user's scenario, which two user rules need (contradiction, out-of-task
    request); without it those two never fire.
    """
    if not is_failed(session):
        return None
    return _environment(session) or _user(session, task) or _agent(session)


__all__ = ["RULES_LABELLER", "FailureCause", "attribute_failure", "is_failed"]
