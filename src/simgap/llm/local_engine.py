"""llama.cpp itself: the embedded model loaded and run in *this* process.

Only the embedded model's worker process (`local_worker.py`) creates a `LlamaEngine`; the
rest of simgap talks to it through `LocalClient`, so a native crash here ends one process,
not a sweep. Everything in this module runs on one thread: llama.cpp contexts are not
thread-safe (one `Llama` used from two threads fails `GGML_ASSERT(i1 >= 0 && i1 < ne1)` in
ggml-cpu/ops.cpp, measured with llama-cpp-python 0.3.36), and a forked copy of a loaded model
hangs in its thread pool, so the worker is started with `spawn`, never `fork`.

Design choices kept from the in-process client, and why:
- One `Llama` per client (hence per worker). llama.cpp reuses the KV cache of the longest
  common token prefix with its previous prompt, and the runner creates one client per role, so
  each role's growing conversation costs only its new tokens.
- Tool calling is emulated by prompt (see `toolcalls.py`); the tool list goes into the system
  prompt so it stays part of the reused prefix.
- A prompt that would overflow the context drops its oldest non-system messages (the system
  prompt and the latest turns matter most) instead of failing the session.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from simgap.llm.base import (
    ChatRequest,
    ChatResponse,
    LLMRequestRejectedError,
    LLMResponseError,
    LLMUnavailableError,
)
from simgap.llm.toolcalls import call_text, parse_tool_output, tool_instructions, tool_names
from simgap.models import Usage

N_CTX = 8192
DEFAULT_MAX_TOKENS = 256
DEFAULT_TEMPERATURE = 0.2  # SmolLM2's recommended sampling temperature
DEFAULT_TOP_P = 0.95
_MIN_NEW_TOKENS = 16  # below this a truncated prompt is not worth answering

# Used when a GGUF carries no chat template of its own.
_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def _text(content: Any) -> str:
    """Message content as plain text (OpenAI content parts are joined)."""
    if content is None:
        return ""
    if isinstance(content, list):
        return "".join(
            str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p
        )
    return str(content)


def _call_from_history(tc: dict[str, Any]) -> str:
    fn = tc.get("function") or {}
    name = str(fn.get("name", ""))
    args = fn.get("arguments")
    if isinstance(args, dict):
        return call_text(name, args)
    if args is None or args == "":
        return call_text(name, {})
    try:
        parsed = json.loads(str(args))
    except json.JSONDecodeError:
        parsed = None
    if isinstance(parsed, dict):
        return call_text(name, parsed)
    return call_text(name, {}, raw_arguments=str(args))


def chat_messages(request: ChatRequest) -> list[dict[str, str]]:
    """OpenAI messages -> plain {role, content} messages any chat template accepts: assistant
    tool calls become the JSON the model is asked to write, tool results become user text,
    and the tool list joins the system prompt."""
    names_by_id: dict[str, str] = {}
    out: list[dict[str, str]] = []
    for m in request.messages:
        role = str(m.get("role", "user"))
        content = _text(m.get("content"))
        if role == "assistant" and m.get("tool_calls"):
            parts = [content] if content.strip() else []
            for tc in m["tool_calls"]:
                names_by_id[str(tc.get("id"))] = str((tc.get("function") or {}).get("name", ""))
                parts.append(_call_from_history(tc))
            content = "\n".join(parts)
        elif role == "tool":
            name = m.get("name") or names_by_id.get(str(m.get("tool_call_id")), "the tool")
            role, content = "user", f"Result of {name}: {content}"
        elif role not in ("system", "user", "assistant"):
            role = "user"
        out.append({"role": role, "content": content})
    if request.tools and request.tool_choice != "none":
        block = tool_instructions(request.tools)
        if out and out[0]["role"] == "system":
            out[0] = {"role": "system", "content": f"{out[0]['content']}\n\n{block}"}
        else:
            out.insert(0, {"role": "system", "content": block})
    return out


def _merge_roles(messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Join consecutive messages of one role, for templates that insist on alternation."""
    out: list[dict[str, str]] = []
    for m in messages:
        if out and out[-1]["role"] == m["role"]:
            out[-1] = {"role": m["role"], "content": f"{out[-1]['content']}\n\n{m['content']}"}
        else:
            out.append(dict(m))
    return out


class LlamaEngine:
    """One `Llama` and the prompt handling around it (see the module docstring)."""

    def __init__(self, model: str, model_path: Path, *, n_ctx: int, n_threads: int) -> None:
        self.model = model
        self.model_path = model_path
        self.endpoint = str(model_path)
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._llama: Any = None
        self._formatter: Any = None
        self._chatml: Any = None
        self._extra_stops: list[str] = []
        self.dropped_messages = 0  # messages left out to fit the context, over all calls

    # -- loading -----------------------------------------------------------------------------------
    def _load(self) -> Any:
        """Load the GGUF on first use, so a bad file fails the first call, not the start."""
        if self._llama is not None:
            return self._llama
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        try:
            llama = Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                verbose=False,
            )
        except Exception as e:
            raise LLMUnavailableError(
                self.model, f"cannot load the GGUF: {e}", endpoint=self.endpoint
            ) from None
        template = llama.metadata.get("tokenizer.chat_template") or _CHATML
        eos = llama.detokenize([llama.token_eos()], special=True).decode("utf-8", "replace")
        bos = llama.detokenize([llama.token_bos()], special=True).decode("utf-8", "replace")
        self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        self._chatml = Jinja2ChatFormatter(template=_CHATML, eos_token=eos, bos_token=bos)
        self._extra_stops = ["<|im_start|>"] if "<|im_start|>" in template else []
        self._llama = llama
        return llama

    # -- prompt ------------------------------------------------------------------------------------
    def _render(self, messages: list[dict[str, str]]) -> tuple[list[int], list[str]]:
        """Tokens of the prompt and the stop strings. Falls back to merged roles, then to
        ChatML, when the model's own template rejects the conversation's shape."""
        result = None
        for fmt, msgs in (
            (self._formatter, messages),
            (self._formatter, _merge_roles(messages)),
            (self._chatml, messages),
        ):
            try:
                result = fmt(messages=msgs)
                break
            except Exception:
                continue
        if result is None:  # pragma: no cover - ChatML renders anything
            raise LLMResponseError(self.model, "chat template failed", endpoint=self.endpoint)
        tokens = self._llama.tokenize(
            result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True
        )
        stops = [*(result.stop if isinstance(result.stop, list) else [result.stop])]
        return list(tokens), [s for s in [*stops, *self._extra_stops] if s]

    def _fit(
        self, messages: list[dict[str, str]], max_tokens: int
    ) -> tuple[list[int], list[str], int]:
        """Render `messages` within the context: drop the oldest non-system messages (never the
        last one), then shorten the longest message, then the answer budget."""
        msgs = list(messages)
        budget = self.n_ctx - max_tokens - 1
        tokens, stops = self._render(msgs)
        while len(tokens) > budget:
            drop = next((i for i, m in enumerate(msgs[:-1]) if m["role"] != "system"), None)
            if drop is None:
                break
            del msgs[drop]
            self.dropped_messages += 1
            tokens, stops = self._render(msgs)
        for _ in range(4):
            if len(tokens) <= budget:
                break
            i = max(range(len(msgs)), key=lambda j: len(msgs[j]["content"]))
            text = msgs[i]["content"]
            half = int(len(text) * budget / len(tokens) * 0.9) // 2
            shortened = text[:half] + " […] " + (text[len(text) - half :] if half else "")
            msgs[i] = {"role": msgs[i]["role"], "content": shortened}
            tokens, stops = self._render(msgs)
        if len(tokens) > budget:
            max_tokens = self.n_ctx - len(tokens) - 1
            if max_tokens < _MIN_NEW_TOKENS:
                raise LLMRequestRejectedError(
                    self.model,
                    f"context window exceeded: prompt of {len(tokens)} tokens does not fit "
                    f"the context of {self.n_ctx}",
                    endpoint=self.endpoint,
                )
        return tokens, stops, max_tokens

    def _grammar(self, response_format: dict[str, Any] | None) -> Any:
        """JSON-constrained sampling for response_format json_object / json_schema."""
        if not response_format:
            return None
        from llama_cpp.llama_grammar import JSON_GBNF, LlamaGrammar

        kind = response_format.get("type")
        try:
            if kind == "json_schema":
                schema = (response_format.get("json_schema") or {}).get("schema")
                if isinstance(schema, dict):
                    return LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
            if kind in ("json_object", "json_schema"):
                return LlamaGrammar.from_string(JSON_GBNF, verbose=False)
        except Exception:
            return None
        return None

    # -- generation --------------------------------------------------------------------------------
    def _prime(self, tokens: list[int]) -> None:
        """Bring the KV cache to `tokens[:-2]`, reusing the cached common prefix.

        llama.cpp's logits for a prompt's last token differ (by up to ~0.7) depending on whether
        that token was decoded alone or in a batch, while multi-token batches agree with each
        other bit for bit. llama-cpp-python decodes a lone token whenever the new prompt extends
        the cached one by one token or repeats it. Always leaving exactly two tokens for
        `create_completion` to decode makes the first sampled token, hence a seeded answer,
        independent of what this client generated before.
        """
        llama = self._llama
        cached = llama.input_ids[: llama.n_tokens].tolist()
        common = 0
        for a, b in zip(cached, tokens, strict=False):
            if a != b:
                break
            common += 1
        target = max(0, len(tokens) - 2)
        keep = min(common, target)
        llama.n_tokens = keep  # eval() drops the KV cache beyond n_tokens
        if target > keep:
            llama.eval(tokens[keep:target])
        else:
            llama._ctx.kv_cache_seq_rm(-1, keep, -1)

    def generate(self, request: ChatRequest, seed: int | None) -> ChatResponse:
        """One generation (blocking). Only ever called from the worker's single thread."""
        llama = self._load()
        t0 = time.perf_counter()
        max_tokens = request.max_tokens or DEFAULT_MAX_TOKENS
        tokens, stops, max_tokens = self._fit(chat_messages(request), max_tokens)
        temperature = DEFAULT_TEMPERATURE if request.temperature is None else request.temperature
        self._prime(tokens)
        out = llama.create_completion(
            prompt=tokens,
            max_tokens=max_tokens,
            temperature=temperature,
            top_p=DEFAULT_TOP_P if request.top_p is None else request.top_p,
            seed=seed,
            stop=stops,
            grammar=self._grammar(request.response_format),
        )
        latency = time.perf_counter() - t0
        choice = out["choices"][0]
        text = str(choice.get("text") or "")
        finish = choice.get("finish_reason") or "stop"
        u = out.get("usage") or {}
        usage = Usage(
            prompt_tokens=int(u.get("prompt_tokens", len(tokens))),
            completion_tokens=int(u.get("completion_tokens", 0)),
            calls=1,
        )
        content: str | None = text.strip() or None
        calls = []
        if request.tools and request.tool_choice != "none":
            parsed = parse_tool_output(text, tool_names(request.tools))
            content, calls = parsed.content, parsed.tool_calls
            if calls and finish == "stop":
                finish = "tool_calls"
        return ChatResponse(
            content=content,
            tool_calls=calls,
            finish_reason=finish,
            model=self.model,
            usage=usage,
            latency_s=latency,
        )

    def close(self) -> None:
        """Free the model's memory."""
        if self._llama is not None:
            self._llama.close()
            self._llama = None
