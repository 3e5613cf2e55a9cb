"""The LLM annotator: any chat model codes each user turn against the codebook.

The codebook is in the system prompt and its JSON schema is the `response_format`, so a model
that supports structured output cannot answer anything else. Answers are still validated:
a reply that is not JSON, misses a code, uses a value outside the codebook, or contradicts the
turn's context (an error reaction where no error happened) is sent back with the reason, up to
`max_retries` times; after that the turn is stored as `Annotation(missing=True, error=...)`.
Nothing is ever guessed or repaired. Retries change the request (they quote the bad answer), so
the response cache never replays a bad answer as if it were a new one.

Model failures that are not the answer's fault (endpoint down, auth, rate limits past the
client's own retries) are raised, not recorded: the session stays unannotated and the next
`simgap annotate` run picks it up.
"""

from __future__ import annotations

import json
import re
from typing import Any

from simgap.annotate.base import Annotator, session_annotation
from simgap.annotate.codebook import Codebook, load_codebook
from simgap.annotate.context import TurnContext, user_turn_contexts
from simgap.annotate.style import style_features
from simgap.llm.base import ChatResponse, LLMClient, LLMResponseError
from simgap.models import Annotation, CodeValue, Session, Usage

DEFAULT_MAX_RETRIES = 2
EARLIER_TURNS_SHOWN = 3
_FENCE = re.compile(r"^\s*```(?:json)?\s*(.*?)\s*```\s*$", re.DOTALL)

SYSTEM_PROMPT = """You annotate the behaviour of the USER (a customer) in a customer-service \
chat with an AI agent. You see one user message at a time with a little context. Code it with \
the codebook below, following each value's meaning literally.

{codebook}

Rules:
- Answer with ONE JSON object with exactly these keys: {keys}. No other text.
- Category codes take exactly one listed value; flags take true or false.
- error_reaction is "not_applicable" unless the context says the user message follows an agent \
error or refusal; in that case it must be one of the other values."""


def parse_answer(content: str | None) -> Any:
    """The JSON in a reply (a single surrounding ``` fence is tolerated); ValueError if none."""
    if content is None or not content.strip():
        raise ValueError("empty answer")
    text = content.strip()
    m = _FENCE.match(text)
    if m:
        text = m.group(1)
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None


def _quote(text: str, limit: int = 1200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class LLMAnnotator(Annotator):
    """Codes user turns with a chat model (name "llm:<model>")."""

    def __init__(
        self,
        client: LLMClient,
        *,
        codebook: Codebook | None = None,
        max_retries: int = DEFAULT_MAX_RETRIES,
        max_tokens: int | None = 400,
    ) -> None:
        self.client = client
        self.codebook = codebook or load_codebook()
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.name = f"llm:{client.config.model}"
        keys = ", ".join(c.name for c in self.codebook.codes)
        self._system = SYSTEM_PROMPT.format(codebook=self.codebook.render(), keys=keys)
        self._response_format = {
            "type": "json_schema",
            "json_schema": {
                "name": "user_turn_codes",
                "strict": True,
                "schema": self.codebook.json_schema(),
            },
        }

    # -- prompt -------------------------------------------------------------------------------
    def turn_prompt(self, ctx: TurnContext) -> str:
        lines: list[str] = []
        if ctx.prev_agent_text:
            lines.append(f'Agent\'s previous message: "{_quote(ctx.prev_agent_text)}"')
        else:
            lines.append("The agent has not written anything before this message.")
        first = "yes" if ctx.position == 0 else "no"
        lines.append(f"This is user message #{ctx.position + 1} (first user message: {first}).")
        if ctx.after_error:
            lines.append(f"It follows an agent error or refusal ({ctx.error_reason}).")
        else:
            lines.append("It does not follow an agent error or refusal.")
        if ctx.earlier_user_texts:
            lines.append("Earlier user messages, oldest first:")
            lines.extend(
                f'- "{_quote(t, 300)}"' for t in ctx.earlier_user_texts[-EARLIER_TURNS_SHOWN:]
            )
        lines.append(f'User message to code: "{_quote(ctx.text, 4000)}"')
        return "\n".join(lines)

    def check(self, ctx: TurnContext, answer: Any) -> dict[str, CodeValue]:
        """Validate against the codebook and the turn's context; ValueError says what is wrong."""
        codes = self.codebook.validate_codes(answer)
        er = codes.get("error_reaction")
        if er is not None:
            if not ctx.after_error and er != "not_applicable":
                raise ValueError(
                    f"error_reaction must be 'not_applicable' (no agent error before), got {er!r}"
                )
            if ctx.after_error and er == "not_applicable":
                raise ValueError("error_reaction cannot be 'not_applicable' after an agent error")
        return codes

    # -- one turn -----------------------------------------------------------------------------
    async def annotate_turn(self, session: Session, ctx: TurnContext) -> Annotation:
        messages: list[dict[str, Any]] = [
            {"role": "system", "content": self._system},
            {"role": "user", "content": self.turn_prompt(ctx)},
        ]
        usage = Usage()
        errors: list[str] = []
        for _attempt in range(self.max_retries + 1):
            req = self.client.request(
                messages, response_format=self._response_format, max_tokens=self.max_tokens
            )
            resp: ChatResponse | None = None
            try:
                resp = await self.client.complete(req)
                usage = usage + resp.usage
                codes = self.check(ctx, parse_answer(resp.content))
            except LLMResponseError as e:
                problem = f"unusable reply ({e})"
            except ValueError as e:
                problem = str(e)
            else:
                return Annotation(
                    session_id=session.session_id,
                    turn_idx=ctx.turn.idx,
                    annotator=self.name,
                    codebook_version=self.codebook.version,
                    codes=codes,
                    features=style_features(ctx.text),
                    usage=usage,
                    meta={
                        "after_error": ctx.after_error,
                        "attempts": len(errors) + 1,
                        "cached": resp.cached,
                    },
                )
            errors.append(problem)
            if resp is not None and resp.content:
                messages.append({"role": "assistant", "content": resp.content})
            messages.append(
                {
                    "role": "user",
                    "content": f"That answer was invalid: {problem}. Reply again with only the "
                    "JSON object, using the codebook's keys and values.",
                }
            )
        return Annotation(
            session_id=session.session_id,
            turn_idx=ctx.turn.idx,
            annotator=self.name,
            codebook_version=self.codebook.version,
            missing=True,
            error=f"no valid answer after {len(errors)} attempts; last: {errors[-1]}",
            usage=usage,
            meta={"after_error": ctx.after_error, "attempts": len(errors), "errors": errors},
        )

    async def annotate(self, session: Session) -> list[Annotation]:
        turns = [await self.annotate_turn(session, c) for c in user_turn_contexts(session)]
        usage = Usage()
        for a in turns:
            if a.usage is not None:
                usage = usage + a.usage
        row = session_annotation(
            session, annotator=self.name, codebook=self.codebook, turns=turns, usage=usage
        )
        return [*turns, row]

    async def aclose(self) -> None:
        await self.client.aclose()
