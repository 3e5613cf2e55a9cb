"""Tool calling by prompt: the parser on crafted model outputs, and how history is rendered."""

from __future__ import annotations

import json

import pytest

from simgap.llm import ChatRequest
from simgap.llm.local_engine import _merge_roles, chat_messages
from simgap.llm.toolcalls import (
    call_text,
    describe_tool,
    parse_tool_output,
    tool_instructions,
    tool_names,
)

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_order_details",
            "description": "Get the status and details of an order.\n\nArgs: ...",
            "parameters": {
                "type": "object",
                "properties": {
                    "order_id": {"type": "string", "description": "like #W0000000"},
                    "include_items": {"type": "boolean"},
                    "items": {"type": "array", "items": {"type": "string"}},
                    "mode": {"enum": ["fast", "slow"]},
                },
                "required": ["order_id"],
            },
        },
    },
    {"type": "function", "function": {"name": "transfer_to_human_agents", "parameters": {}}},
]
KNOWN = set(tool_names(TOOLS))


def test_describe_tool_is_compact() -> None:
    assert describe_tool(TOOLS[0]) == (
        "get_order_details(order_id: string, include_items?: boolean, items?: array[string], "
        'mode?: "fast"|"slow"): Get the status and details of an order.'
    )
    assert describe_tool(TOOLS[1]) == "transfer_to_human_agents()"
    text = tool_instructions(TOOLS)
    assert "- get_order_details(" in text and "- transfer_to_human_agents()" in text
    assert '{"name": "<tool name>", "arguments": {"<argument>": <value>}}' in text


def test_plain_text() -> None:
    out = parse_tool_output("  Sure, I can help with that.  ", KNOWN)
    assert out.content == "Sure, I can help with that." and out.tool_calls == []
    assert parse_tool_output("   ", KNOWN).content is None


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "get_order_details", "arguments": {"order_id": "#W1"}}',
        '```json\n{"name": "get_order_details", "arguments": {"order_id": "#W1"}}\n```',
        '```\n{"name": "get_order_details", "arguments": {"order_id": "#W1"}}```',
        '{"name": "get_order_details", "parameters": {"order_id": "#W1"}}',
        '{"name": "get_order_details", "arguments": "{\\"order_id\\": \\"#W1\\"}"}',
        '{"type": "function", "function": {"name": "get_order_details", '
        '"arguments": {"order_id": "#W1"}}}',
    ],
)
def test_valid_call_formats(text: str) -> None:
    out = parse_tool_output(text, KNOWN)
    assert out.content is None
    [call] = out.tool_calls
    assert call.name == "get_order_details"
    assert call.arguments == {"order_id": "#W1"} and call.raw_arguments is None
    assert call.id.startswith("call_")


def test_prose_around_a_call_is_kept_as_content() -> None:
    out = parse_tool_output(
        'Let me check.\n```json\n{"name": "get_order_details", "arguments": {"order_id": "#1"}}\n```',
        KNOWN,
    )
    assert out.content == "Let me check."
    assert out.tool_calls[0].arguments == {"order_id": "#1"}


def test_several_calls_and_call_without_arguments() -> None:
    out = parse_tool_output(
        '[{"name": "get_order_details", "arguments": {"order_id": "#1"}},'
        ' {"name": "transfer_to_human_agents"}]',
        KNOWN,
    )
    assert [c.name for c in out.tool_calls] == ["get_order_details", "transfer_to_human_agents"]
    assert out.tool_calls[1].arguments == {} and out.tool_calls[1].raw_arguments is None
    assert out.tool_calls[0].id != out.tool_calls[1].id


def test_malformed_call_keeps_raw_arguments() -> None:
    out = parse_tool_output('{"name": "get_order_details", "arguments": {"order_id": }}', KNOWN)
    [call] = out.tool_calls
    assert call.name == "get_order_details" and call.arguments == {}
    assert call.raw_arguments == '{"order_id": }'


def test_truncated_call_in_unterminated_fence() -> None:
    out = parse_tool_output(
        '```json\n{"name": "get_order_details", "arguments": {"order_id": "#', KNOWN
    )
    [call] = out.tool_calls
    assert call.raw_arguments == '{"order_id": "#'


def test_arguments_that_are_not_an_object() -> None:
    out = parse_tool_output('{"name": "get_order_details", "arguments": ["#1"]}', KNOWN)
    assert out.tool_calls[0].raw_arguments == '["#1"]' and out.tool_calls[0].arguments == {}
    out = parse_tool_output('{"name": "get_order_details", "arguments": "order #1"}', KNOWN)
    assert out.tool_calls[0].raw_arguments == "order #1"


def test_unknown_tool_is_recorded_as_invalid() -> None:
    out = parse_tool_output('{"name": "delete_everything", "arguments": {"really": true}}', KNOWN)
    [call] = out.tool_calls
    assert call.name == "delete_everything"
    assert call.arguments == {} and json.loads(call.raw_arguments or "") == {"really": True}


def test_json_that_is_not_a_call_stays_text() -> None:
    text = 'My details: {"name": "Yusuf Rossi", "zip": "19122"}'
    out = parse_tool_output(text, KNOWN)
    assert out.content == text and out.tool_calls == []


def test_ids_are_deterministic() -> None:
    text = '{"name": "get_order_details", "arguments": {"order_id": "#1"}}'
    assert parse_tool_output(text, KNOWN).tool_calls == parse_tool_output(text, KNOWN).tool_calls


def test_history_rendering() -> None:
    req = ChatRequest(
        model="local",
        tools=TOOLS,
        tool_choice="auto",
        messages=[
            {"role": "system", "content": "You are an agent."},
            {"role": "user", "content": "Where is order #1?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "c1",
                        "type": "function",
                        "function": {
                            "name": "get_order_details",
                            "arguments": '{"order_id": "#1"}',
                        },
                    },
                    {
                        "id": "c2",
                        "type": "function",
                        "function": {"name": "get_order_details", "arguments": '{"order_id": '},
                    },
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"status": "delivered"}'},
            {"role": "tool", "tool_call_id": "c2", "content": "Error: bad arguments"},
            {"role": "user", "content": [{"type": "text", "text": "Thanks!"}]},
        ],
    )
    msgs = chat_messages(req)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user", "user", "user"]
    assert msgs[0]["content"].startswith("You are an agent.\n\n# Tools")
    assert msgs[2]["content"] == "\n".join(
        [
            call_text("get_order_details", {"order_id": "#1"}),
            '{"name": "get_order_details", "arguments": {"order_id": }',
        ]
    )
    assert msgs[3]["content"] == 'Result of get_order_details: {"status": "delivered"}'
    assert msgs[5]["content"] == "Thanks!"
    merged = _merge_roles(msgs)
    assert [m["role"] for m in merged] == ["system", "user", "assistant", "user"]
    # No system prompt: the tool list becomes one.
    bare = chat_messages(ChatRequest(model="local", tools=TOOLS, messages=[msgs[1]]))
    assert bare[0]["role"] == "system" and bare[0]["content"].startswith("# Tools")
    # No tools: no tool block.
    plain = chat_messages(ChatRequest(model="local", messages=req.messages[:2]))
    assert "# Tools" not in plain[0]["content"]
