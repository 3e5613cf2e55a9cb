"""How one simulator answers one session's questionnaire.

* A hosted LLM answers in JSON; an invalid answer is sent back once with the reason (repair);
  if the repaired answer is still invalid, the session's questionnaire fails with that reason
  in one line. Nothing partial is ever returned.
* The embedded model decodes under a grammar made from the questionnaire (each field an enum
  of its options), so what it writes is valid JSON with valid options; if that still fails (an
  answer cut off by the token limit), it answers item by item, each under a one-number
  grammar. `per_item=True` asks any model item by item with "reply with the number"
  (for hosted models that cannot hold JSON).
* A parametric simulator draws its answers from its profile, seeded by the session.
"""

from __future__ import annotations

from typing import Any

from simgap.errors import ConfigError
from simgap.feedback.questionnaire import (
    customer_transcript,
    item_prompt,
    item_schema,
    json_prompt,
    json_schema,
    parse_item_answer,
    parse_json_answers,
    session_persona,
)
from simgap.llm.base import LLMClient
from simgap.models import Questionnaire, Session, Usage
from simgap.users import BehaviorProfile, UserPreset, preset_profile, sample_answers

FEEDBACK_MAX_TOKENS = 400
ITEM_ATTEMPTS = 3  # per question, item by item (the embedded model sometimes goes off-format)

Answers = dict[str, int | str]


def _schema_format(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


async def llm_answers(
    client: LLMClient,
    q: Questionnaire,
    session: Session,
    *,
    scenario: str | None = None,
    per_item: bool = False,
) -> tuple[Answers, Usage, str]:
    """Validated answers, the usage they cost and how they were obtained ("json", "repair",
    "per_item"). Raises ValueError with a one-line cause when no valid answer set came."""
    transcript = customer_transcript(session.turns)
    persona = session_persona(session.turns)
    local = client.config.is_local
    if per_item:
        return await _per_item(client, q, session, transcript, scenario, persona, local=local)
    usage = Usage()
    messages = json_prompt(q, transcript, scenario=scenario, persona=persona)
    fmt = _schema_format("answers", json_schema(q)) if local else None
    resp = await client.complete(
        client.request(
            messages, seed=session.seed, max_tokens=FEEDBACK_MAX_TOKENS, response_format=fmt
        )
    )
    usage = usage + resp.usage
    try:
        return parse_json_answers(q, resp.content), usage, "json"
    except ValueError as first:
        if local:  # grammar decoding that still failed was cut off: go item by item
            out, more, how = await _per_item(
                client, q, session, transcript, scenario, persona, local=True
            )
            return out, usage + more, how
        cause = str(first)
    messages = [
        *messages,
        {"role": "assistant", "content": resp.content or ""},
        {
            "role": "user",
            "content": f"That answer is not valid: {cause}. Reply with the JSON object only, "
            "every field, each value copied exactly from its options.",
        },
    ]
    resp = await client.complete(
        client.request(messages, seed=session.seed, max_tokens=FEEDBACK_MAX_TOKENS)
    )
    usage = usage + resp.usage
    try:
        return parse_json_answers(q, resp.content), usage, "repair"
    except ValueError as second:
        raise ValueError(f"invalid answers after one repair: {second}") from None


async def _per_item(
    client: LLMClient,
    q: Questionnaire,
    session: Session,
    transcript: str,
    scenario: str | None,
    persona: dict[str, str] | None,
    *,
    local: bool,
) -> tuple[Answers, Usage, str]:
    usage = Usage()
    out: Answers = {}
    for item in q.scored_items:
        fmt = _schema_format("answer", item_schema(item)) if local else None
        for attempt in range(ITEM_ATTEMPTS):
            seed = None if session.seed is None else session.seed + attempt
            resp = await client.complete(
                client.request(
                    item_prompt(item, transcript, scenario=scenario, persona=persona),
                    seed=seed,
                    max_tokens=16,
                    response_format=fmt,
                )
            )
            usage = usage + resp.usage
            try:
                out[item.field] = parse_item_answer(item, resp.content)
                break
            except ValueError:
                if attempt == ITEM_ATTEMPTS - 1:
                    raise
    return out, usage, "per_item"


def is_parametric(preset: UserPreset) -> bool:
    """Non-LLM simulators (behavior, standin, grounded on the behavior engine)."""
    if preset.kind == "grounded":
        return str(preset.settings.get("engine", "behavior")) != "llm"
    return preset.model is None


def session_profile(preset: UserPreset, session: Session) -> BehaviorProfile:
    """The profile the session ran on: the settings stored with it, else the preset's."""
    stored = session.meta.get("user_preset")
    settings = stored.get("settings") if isinstance(stored, dict) else None
    if not isinstance(settings, dict) or not (
        settings.get("profile") or settings.get("profile_path")
    ):
        return preset_profile(preset)
    try:
        return preset_profile(preset.model_copy(update={"settings": settings}))
    except ConfigError:
        if isinstance(settings.get("profile"), dict):  # the file is gone; its copy is stored
            return BehaviorProfile.model_validate(settings["profile"])
        raise


def parametric_answers(preset: UserPreset, q: Questionnaire, session: Session) -> Answers:
    """A parametric simulator's answers: its profile's distributions, seeded by the session."""
    return sample_answers(session_profile(preset, session), q, session.seed)
