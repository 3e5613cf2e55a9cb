"""Prompts and answer parsing for a simulator filling the post-interaction questionnaire.

The simulator gets what the person got: the conversation from the customer's side (agent tool
calls are invisible to customers) and the same questions with the same options. It answers in
JSON; an invalid answer is sent back once with the reason (repair); a model that still cannot
answer in JSON (the embedded 135M model often cannot) is asked item by item, "reply with the
number of your option". An answer that never validates fails that session's questionnaire
with a one-line cause; nothing partial is stored.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from simgap.models import ItemKind, QuestionItem, Questionnaire, Role, Turn
from simgap.users import strip_control_tokens

SYSTEM = (
    "You just played the customer in a customer-service chat with an AI agent. Now answer a "
    "short survey about the agent, as that customer, honestly."
)


def customer_transcript(turns: Sequence[Turn]) -> str:
    """The conversation as the customer saw it."""
    lines = []
    for t in turns:
        if t.role == Role.USER and t.content:
            lines.append(f"You: {strip_control_tokens(t.content)}")
        elif t.role == Role.AGENT and t.content and not t.tool_calls:
            lines.append(f"Agent: {t.content}")
    return "\n".join(lines)


def choices(item: QuestionItem) -> list[str]:
    """The answer options as shown, in order."""
    if item.kind == ItemKind.LIKERT:
        assert item.scale_min is not None and item.scale_max is not None
        return [str(v) for v in range(item.scale_min, item.scale_max + 1)]
    return list(item.options)


def json_prompt(q: Questionnaire, transcript: str) -> list[dict[str, Any]]:
    spec = {it.field: {"question": it.prompt, "options": choices(it)} for it in q.scored_items}
    user = (
        f"The conversation:\n{transcript}\n\nAnswer every question with one of its options, "
        "copied exactly. Reply with a JSON object only, mapping each field name to your "
        f"answer:\n{json.dumps(spec, ensure_ascii=False, indent=1)}"
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def item_prompt(item: QuestionItem, transcript: str) -> list[dict[str, Any]]:
    opts = "\n".join(f"{i + 1}. {o}" for i, o in enumerate(choices(item)))
    user = (
        f"The conversation:\n{transcript}\n\nQuestion: {item.prompt}\n{opts}\n"
        "Reply with the number of your answer only."
    )
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


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
