"""Prompts and answer parsing for a simulator filling the post-interaction questionnaire.

The simulator gets what the person got: its instructions as the customer (the τ² scenario the
study's briefing shows people), the conversation as the customer saw it (agent tool calls are
invisible to customers) and the same questions with the same options, written out. For an
LLM simulator that played a persona, the persona is restated, so it answers as that customer.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from simgap.models import ItemKind, QuestionItem, Questionnaire, Role, Turn
from simgap.users import strip_control_tokens

PROMPT_VERSION = 2  # stored with every answer set (`meta.prompt_version`)

SYSTEM = (
    "You just played the customer in a customer-service chat with an AI agent. Now answer a "
    "short survey about the agent, as that customer, honestly."
)


def customer_transcript(turns: Sequence[Turn]) -> str:
    """The conversation as the customer saw it."""
    lines = []
    for t in turns:
        if t.role == Role.USER and t.content:
            said = strip_control_tokens(t.content)
            if said:
                lines.append(f"You: {said}")
        elif t.role == Role.AGENT and t.content and not t.tool_calls:
            lines.append(f"Agent: {t.content}")
    return "\n".join(lines)


def session_persona(turns: Sequence[Turn]) -> dict[str, str] | None:
    """The persona a `persona` simulator played (stored in its turns' meta), if any."""
    for t in turns:
        p = t.meta.get("persona") if t.role == Role.USER else None
        if isinstance(p, dict):
            return {str(k): str(v) for k, v in p.items()}
    return None


def system_prompt(persona: dict[str, str] | None = None) -> str:
    if not persona:
        return SYSTEM
    lines = "\n".join(f"- {k.replace('_', ' ')}: {v}" for k, v in persona.items())
    return f"{SYSTEM}\nYou played this persona; answer as that person would:\n{lines}"


def _context(transcript: str, scenario: str | None) -> str:
    head = f"What you wanted, as the customer:\n{scenario}\n\n" if scenario else ""
    return f"{head}The conversation:\n{transcript}"


def _messages(user: str, persona: dict[str, str] | None) -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": system_prompt(persona)},
        {"role": "user", "content": user},
    ]


def choices(item: QuestionItem) -> list[str]:
    """The answer options as shown, in order."""
    if item.kind == ItemKind.LIKERT:
        assert item.scale_min is not None and item.scale_max is not None
        return [str(v) for v in range(item.scale_min, item.scale_max + 1)]
    return list(item.options)


def json_prompt(
    q: Questionnaire,
    transcript: str,
    *,
    scenario: str | None = None,
    persona: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One message asking for every scored field as a JSON object."""
    spec = {it.field: {"question": it.prompt, "options": choices(it)} for it in q.scored_items}
    user = (
        f"{_context(transcript, scenario)}\n\nAnswer every question with one of its options, "
        "copied exactly. Reply with a JSON object only, mapping each field name to your "
        f"answer:\n{json.dumps(spec, ensure_ascii=False, indent=1)}"
    )
    return _messages(user, persona)


def json_schema(q: Questionnaire) -> dict[str, Any]:
    """The answer object as a JSON schema (each field an enum of its options), for models that
    decode under a grammar (the embedded model): every answer it can write is valid."""
    props: dict[str, Any] = {}
    for it in q.scored_items:
        opts: list[Any] = choices(it)
        if it.kind == ItemKind.LIKERT:
            opts = [int(o) for o in opts]
        props[it.field] = {"enum": opts}
    return {
        "type": "object",
        "properties": props,
        "required": [it.field for it in q.scored_items],
        "additionalProperties": False,
    }


def item_prompt(
    item: QuestionItem,
    transcript: str,
    *,
    scenario: str | None = None,
    persona: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One question alone: "reply with the number of your answer"."""
    opts = "\n".join(f"{i + 1}. {o}" for i, o in enumerate(choices(item)))
    user = (
        f"{_context(transcript, scenario)}\n\nQuestion: {item.prompt}\n{opts}\n"
        "Reply with the number of your answer only."
    )
    return _messages(user, persona)


def item_schema(item: QuestionItem) -> dict[str, Any]:
    """One answer number as a JSON schema (`{"answer": 1..n}`) for grammar decoding."""
    n = len(choices(item))
    return {
        "type": "object",
        "properties": {"answer": {"enum": list(range(1, n + 1))}},
        "required": ["answer"],
        "additionalProperties": False,
    }


_JSON_OBJECT = re.compile(r"\{.*\}", re.S)
_NUMBER = re.compile(r"\d+")


def parse_json_answers(q: Questionnaire, text: str | None) -> dict[str, int | str]:
    """Validated answers from a JSON reply; ValueError names the first problem."""
    m = _JSON_OBJECT.search(text or "")
    if not m:
        raise ValueError("no JSON object in the reply")
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError as e:
        raise ValueError(f"invalid JSON ({e.msg})") from None
    if not isinstance(data, dict):
        raise ValueError("the JSON is not an object")
    out: dict[str, int | str] = {}
    for item in q.scored_items:
        if item.field not in data:
            raise ValueError(f"{item.field}: missing")
        value = item.validate_answer(_coerce(item, data[item.field]))
        assert value is not None
        out[item.field] = value
    return out


def parse_item_answer(item: QuestionItem, text: str | None) -> int | str:
    """The option a "reply with the number" answer picks; ValueError if none."""
    opts = choices(item)
    for m in _NUMBER.finditer(text or ""):
        n = int(m.group(0))
        if 1 <= n <= len(opts):
            value = item.validate_answer(_coerce(item, opts[n - 1]))
            assert value is not None
            return value
    lower = (text or "").strip().lower()
    named = [o for o in opts if re.match(rf"{re.escape(o.lower())}\b", lower)]
    if len(named) == 1:  # the option written out instead of its number
        value = item.validate_answer(_coerce(item, named[0]))
        assert value is not None
        return value
    raise ValueError(f"{item.field}: no option number 1..{len(opts)} in {(text or '')[:60]!r}")


def _coerce(item: QuestionItem, value: Any) -> Any:
    """Likert answers as integers; ordinal answers matched to an option, case-insensitively."""
    if item.kind == ItemKind.LIKERT:
        return value
    if isinstance(value, str):
        for o in item.options:
            if value.strip().lower() == o.lower():
                return o
    return value
