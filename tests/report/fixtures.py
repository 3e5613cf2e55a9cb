"""SYNTHETIC sessions for the report tests: a stand-in "people" reference and three simulators.

Nothing here is real data: every session is labelled synthetic (`meta.synthetic`, `synthetic-`
ids), as the project requires of anything standing in for people. The texts are written to
differ the way the paper says simulators differ (politeness, length, front-loading, emotion),
so the report has real gaps, distributions and examples to show.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from simgap.metrics import ScoreSettings, score_sets
from simgap.metrics.inputs import LoadedSet, parse_set_spec
from simgap.models import (
    Feedback,
    Reward,
    Role,
    Session,
    SessionStatus,
    ToolCall,
    Turn,
    UserKind,
    load_questionnaire,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
N_TASKS = 8
BATCHES = ("synthetic-b1", "synthetic-b2", "synthetic-b3")
AGENT = [
    "Hi! How can I help you today?",
    "Sure, I can help with that. Could you give me your order id and the email on the account?",
    "Thanks. I found the order. It is still pending; do you want to cancel all of it?",
    "Done: the order is cancelled and the refund goes back to the original payment method.",
    "Is there anything else I can help you with?",
]

PEOPLE = [
    ["hi i need to cancel an order", "W2378156 and its mia.garcia@example.com", "yes all", "ok"],
    ["cancel my order pls", "why do you need that?? its W2378156", "ugh fine yes", "thx"],
    [
        "hello, my lamp arrived broken",
        "not sure of the order number, maybe W77",
        "ok",
        "no thats it",
    ],
    ["I want a refund", "I already told you the order id", "this is frustrating", "ok bye"],
    ["hey can you change my flight", "tomorrow morning I think", "how much is it?", "ok"],
    ["need to return a keyboard", "W5511223", "yes", "thanks"],
]
POLITE = [
    "Hello! I would like to cancel my order, please. My order ID is #W2378156 and my email "
    "address is mia.garcia@example.com. Thank you so much in advance for your help!",
    "Yes, please cancel the entire order. I really appreciate your assistance with this.",
    "Thank you very much for your help, I truly appreciate it!",
    "No, that is everything for today. Thank you again, have a wonderful day!",
]
PERSONA = [
    [
        "Hi, I need to cancel my order.",
        "It's W2378156, email mia.garcia@example.com.",
        "Yes.",
        "Thanks.",
    ],
    [
        "Hello, I'd like to return a lamp that arrived broken.",
        "I'm not sure of the number.",
        "OK, thanks.",
    ],
]


def _rng(*key: Any) -> random.Random:
    return random.Random("|".join(map(str, key)))


def conversation(
    sid: str,
    user_texts: list[str],
    *,
    task: int,
    kind: UserKind,
    user: str,
    batch: str,
    success: bool,
    trial: int = 0,
) -> Session:
    """Agent greeting, alternating user/agent text turns, and one tool call with its result."""
    turns: list[Turn] = [Turn(idx=0, role=Role.AGENT, content=AGENT[0], timestamp=T0)]

    def add(**kw: Any) -> None:
        turns.append(Turn(idx=len(turns), timestamp=T0 + timedelta(seconds=len(turns)), **kw))

    for i, text in enumerate(user_texts):
        add(role=Role.USER, content=text)
        if i == 1:  # tool traffic: must never appear in the report
            add(
                role=Role.AGENT,
                tool_calls=[ToolCall(id=f"c{i}", name="get_order_details", arguments={"id": "x"})],
            )
            add(role=Role.TOOL, content='{"status": "pending"}', tool_call_id=f"c{i}")
        add(role=Role.AGENT, content=AGENT[min(i + 1, len(AGENT) - 1)])
    domain = "airline" if task % 4 == 3 else "retail"
    return Session(
        session_id=sid,
        task_id=str(task),
        domain=domain,
        user_kind=kind,
        user_id=user,
        batch=batch,
        trial=trial,
        status=SessionStatus.DONE,
        reward=Reward(value=1.0 if success else 0.0),
        turns=turns,
        meta={"synthetic": True},
    )


def _answers(rng: random.Random, rosy: float) -> dict[str, int | str]:
    """A filled questionnaire; `rosy` in [0, 1] pushes answers towards the best option."""
    q = load_questionnaire("usi")
    out: dict[str, int | str] = {}
    for item in q.scored_items:
        levels: list[int | str] = (
            list(range(item.scale_min or 1, (item.scale_max or 5) + 1))
            if item.kind.value == "likert"
            else list(item.options)
        )
        if item.field == "question_amount_preference":
            pos = 2 if rng.random() < 0.4 + 0.6 * rosy else rng.randrange(2)
        else:
            x = rosy * 0.9 + rng.random() * (1 - rosy * 0.9)
            pos = min(len(levels) - 1, int(x * len(levels)))
        out[item.field] = levels[pos]
    return out


def people_set() -> LoadedSet:
    sessions: list[Session] = []
    fbs: dict[str, list[Feedback]] = {}
    for b, batch in enumerate(BATCHES):
        for t in range(N_TASKS):
            rng = _rng("people", batch, t)
            sid = f"synthetic-person-{batch}-{t}"
            s = conversation(
                sid,
                PEOPLE[(t + b) % len(PEOPLE)],
                task=t,
                kind=UserKind.HUMAN,
                user=f"synthetic-participant-{b}-{t}",
                batch=batch,
                success=rng.random() < 0.55,
            )
            sessions.append(s)
            fbs[sid] = [
                Feedback(
                    session_id=sid,
                    respondent_kind=UserKind.HUMAN,
                    respondent_id=s.user_id,
                    answers=_answers(rng, 0.15),
                    meta={"synthetic": True},
                )
            ]
    return LoadedSet(
        parse_set_spec("synthetic-people.jsonl"), "synthetic people", sessions, fbs, {}
    )


def simulator_set(name: str, *, style: str, p_success: float, rosy: float) -> LoadedSet:
    sessions: list[Session] = []
    fbs: dict[str, list[Feedback]] = {}
    for t in range(N_TASKS):
        for k in range(2):
            rng = _rng(name, t, k)
            if style == "polite":
                texts = POLITE
            elif style == "persona":
                texts = PERSONA[(t + k) % len(PERSONA)]
            else:
                texts = PEOPLE[(t + 2 * k + 1) % len(PEOPLE)]
            sid = f"synthetic-{name}-{t}-{k}"
            s = conversation(
                sid,
                texts,
                task=t,
                kind=UserKind.SIMULATOR,
                user=name,
                batch="synthetic-sim",
                success=rng.random() < p_success,
                trial=k,
            )
            sessions.append(s)
            fbs[sid] = [
                Feedback(
                    session_id=sid,
                    respondent_kind=UserKind.SIMULATOR,
                    respondent_id=name,
                    answers=_answers(rng, rosy),
                    meta={"synthetic": True},
                )
            ]
    return LoadedSet(parse_set_spec(f"{name}.jsonl"), name, sessions, fbs, {})


SIMULATORS = (
    ("synthetic-gpt-polite", "polite", 0.95, 0.85),
    ("synthetic-persona", "persona", 0.8, 0.5),
    ("synthetic-mimic", "mimic", 0.6, 0.2),
)


def score_doc(*, n_boot: int = 200, n_examples: int = 3) -> dict[str, Any]:
    """The simgap.score/1 JSON of the synthetic people vs the three synthetic simulators."""
    cands = [simulator_set(n, style=s, p_success=p, rosy=r) for n, s, p, r in SIMULATORS]
    lb = score_sets(
        people_set(),
        cands,
        ScoreSettings(n_boot=n_boot, n_permutations=200, seed=7, n_examples=n_examples),
    )
    return lb.to_json()
