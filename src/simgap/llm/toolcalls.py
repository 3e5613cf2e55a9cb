"""Tool calling by prompt, for models with no native tool-call API (the embedded GGUF).

The model is shown a compact tool list and asked to answer either plain text or ONLY a JSON
object `{"name": ..., "arguments": {...}}`. Its output is parsed back into `ToolCall`s. Small
models get this wrong in every possible way, and the agent layer must see those mistakes, not
have them hidden: a recognisable call that is malformed (broken JSON, arguments that are not
an object) or names an unknown tool becomes a `ToolCall` with `raw_arguments` set, which the
environment records as an invalid call. Nothing is silently repaired.

History is rendered in the same format the model is asked to produce, so earlier calls act as
examples of the protocol.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from simgap.models import ToolCall

_DESC_CHARS = 160
_NAME_KEYS = ("name", "tool", "tool_name", "function_name")
_ARG_KEYS = ("arguments", "parameters", "args", "tool_input", "input")
_FENCE = re.compile(r"```[ \t]*(?:json|JSON|tool_call|tool)?[ \t]*\n?(.*?)(?:```|\Z)", re.S)
_MALFORMED = re.compile(
    r'\{\s*"(?:name|tool|tool_name|function_name)"\s*:\s*"(?P<name>[^"\n]{1,128})"'
)
_ARGS_START = re.compile(r'"(?:arguments|parameters|args|tool_input|input)"\s*:\s*')


# -- the prompt ------------------------------------------------------------------------------------
def _schema_type(schema: dict[str, Any]) -> str:
    if "enum" in schema and isinstance(schema["enum"], list):
        return "|".join(json.dumps(v) for v in schema["enum"][:8])
    t = schema.get("type")
    if isinstance(t, list):
        return "|".join(str(x) for x in t)
    if t == "array":
        items = schema.get("items")
        return f"array[{_schema_type(items)}]" if isinstance(items, dict) else "array"
    if t is None:
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list):
                return "|".join(_schema_type(o) for o in options if isinstance(o, dict))
        return "any"
    return str(t)


def _one_line(text: str, limit: int = _DESC_CHARS) -> str:
    first = " ".join(text.strip().split("\n\n")[0].split())
    return first if len(first) <= limit else first[: limit - 1] + "…"


def _function(tool: dict[str, Any]) -> dict[str, Any]:
    fn = tool.get("function", tool)
    return fn if isinstance(fn, dict) else {}


def tool_names(tools: Sequence[dict[str, Any]]) -> list[str]:
    return [str(_function(t).get("name", "")) for t in tools if _function(t).get("name")]


def describe_tool(tool: dict[str, Any]) -> str:
    """`name(arg: type, optional_arg?: type): first line of the description`."""
    fn = _function(tool)
    params = fn.get("parameters") or {}
    props = params.get("properties") or {}
    required = set(params.get("required") or [])
    args = ", ".join(
        f"{p}{'' if p in required else '?'}: {_schema_type(s if isinstance(s, dict) else {})}"
        for p, s in props.items()
    )
    desc = _one_line(str(fn.get("description") or ""))
    return f"{fn.get('name', '?')}({args})" + (f": {desc}" if desc else "")


def tool_instructions(tools: Sequence[dict[str, Any]]) -> str:
    """The block appended to the system prompt when tools are offered."""
    lines = ["# Tools", "You can call these tools (a ? marks an optional argument):"]
    lines += [f"- {describe_tool(t)}" for t in tools]
    lines += [
        "",
        "To call a tool, answer with ONLY a JSON object and nothing else, like this:",
        '{"name": "<tool name>", "arguments": {"<argument>": <value>}}',
        "Otherwise, answer in plain text (no JSON).",
    ]
    return "\n".join(lines)


def call_text(name: str, arguments: dict[str, Any], raw_arguments: str | None = None) -> str:
    """A past call as the model would have written it (raw arguments verbatim if invalid)."""
    args = raw_arguments if raw_arguments is not None else json.dumps(arguments, ensure_ascii=False)
    return f'{{"name": {json.dumps(name, ensure_ascii=False)}, "arguments": {args}}}'


# -- the parser ------------------------------------------------------------------------------------
@dataclass
class ParsedOutput:
    """Model output split into the text for the reader and the tool calls it made."""

    content: str | None
    tool_calls: list[ToolCall] = field(default_factory=list)


def _call_id(index: int, name: str, payload: str) -> str:
    # Deterministic, so a seeded run reproduces its transcript exactly.
    digest = hashlib.sha1(f"{index}:{name}:{payload}".encode()).hexdigest()[:12]
    return f"call_{digest}"


def _unwrap(obj: Any) -> list[dict[str, Any]] | None:
    """The call objects in a decoded JSON value, or None if it does not look like calls."""
    if isinstance(obj, list):
        calls = [_unwrap(o) for o in obj]
        if not obj or any(c is None for c in calls):
            return None
        return [c for group in calls if group for c in group]
    if not isinstance(obj, dict):
        return None
    if isinstance(obj.get("tool_calls"), list):
        return _unwrap(obj["tool_calls"])
    fn = obj.get("function")
    if isinstance(fn, dict) and "name" in fn:
        return [fn]
    if any(isinstance(obj.get(k), str) for k in _NAME_KEYS):
        return [obj]
    return None


def _to_tool_call(obj: dict[str, Any], index: int, known: Collection[str]) -> ToolCall | None:
    name = next((obj[k] for k in _NAME_KEYS if isinstance(obj.get(k), str)), None)
    if name is None:
        return None
    arg_key = next((k for k in _ARG_KEYS if k in obj), None)
    if arg_key is None and name not in known:
        return None  # {"name": "Alice"} in a chat is not a call
    args: Any = obj.get(arg_key) if arg_key else {}
    raw: str | None = None
    if isinstance(args, str):
        try:
            decoded = json.loads(args)
        except json.JSONDecodeError:
            decoded = None
        if isinstance(decoded, dict):
            args = decoded
        else:
            raw = args
    elif not isinstance(args, dict):
        raw = json.dumps(args, ensure_ascii=False)
    if raw is None and name not in known:
        raw = json.dumps(args, ensure_ascii=False)  # unknown tool: recorded, never executed
    payload = raw if raw is not None else json.dumps(args, sort_keys=True)
    return ToolCall(
        id=_call_id(index, name, payload),
        name=name,
        arguments=args if raw is None else {},
        raw_arguments=raw,
    )


def _prose(text: str, start: int, end: int) -> str | None:
    rest = (text[:start] + " " + text[end:]).strip()
    return rest or None


def _try_calls(blob: str, known: Collection[str]) -> tuple[list[ToolCall], int, int] | None:
    """The first decodable JSON value in `blob` that is a call or a list of calls."""
    decoder = json.JSONDecoder()
    for m in re.finditer(r"[\{\[]", blob):
        try:
            obj, end = decoder.raw_decode(blob, m.start())
        except json.JSONDecodeError:
            continue
        objs = _unwrap(obj)
        if not objs:
            continue
        calls = [_to_tool_call(o, i, known) for i, o in enumerate(objs)]
        if all(c is not None for c in calls):
            return [c for c in calls if c is not None], m.start(), end
    return None


def parse_tool_output(text: str, known: Collection[str]) -> ParsedOutput:
    """Split model output into content and tool calls (see the module docstring)."""
    stripped = text.strip()
    if not stripped:
        return ParsedOutput(content=None)
    # 1. A fenced block (possibly unterminated when generation hit max_tokens).
    for m in _FENCE.finditer(stripped):
        found = _try_calls(m.group(1), known)
        if found is not None:
            return ParsedOutput(_prose(stripped, m.start(), m.end()), found[0])
    # 2. Bare JSON anywhere in the output.
    found = _try_calls(stripped, known)
    if found is not None:
        calls, start, end = found
        return ParsedOutput(_prose(stripped, start, end), calls)
    # 3. Something that clearly tried to be a call but is not valid JSON.
    decoder = json.JSONDecoder()
    for bad in _MALFORMED.finditer(stripped):
        try:
            decoder.raw_decode(stripped, bad.start())
            continue  # valid JSON that is not a call ({"name": "Alice", ...}): plain text
        except json.JSONDecodeError:
            pass
        return ParsedOutput(*_malformed_call(stripped, bad))
    return ParsedOutput(content=stripped)


def _malformed_call(text: str, bad: re.Match[str]) -> tuple[str | None, list[ToolCall]]:
    """(content before it, [the call with its raw arguments]) for an undecodable call."""
    tail = text[bad.start() :]
    fence_end = tail.find("```")
    if fence_end >= 0:
        tail = tail[:fence_end]
    args = _ARGS_START.search(tail)
    raw = (tail[args.end() :] if args else tail).strip()
    if args and raw.endswith("}") and raw.count("}") > raw.count("{"):
        raw = raw[:-1].rstrip()  # the call object's own closing brace
    name = bad.group("name")
    call = ToolCall(id=_call_id(0, name, raw), name=name, arguments={}, raw_arguments=raw or tail)
    prefix = text[: bad.start()].rstrip().removesuffix("```json").removesuffix("```")
    return prefix.strip() or None, [call]
