"""Scripted conversations for session tests: an agent and a customer served by two fake
OpenAI-compatible servers, so every model call goes through litellm over real HTTP."""

from __future__ import annotations

from typing import Any

from simgap.llm.base import ModelConfig
from simgap.users import UserPreset
from tests.fakes.openai_server import FakeOpenAIServer, Reply


def model_at(srv: FakeOpenAIServer, name: str) -> ModelConfig:
    return ModelConfig(
        model=f"openai/{name}",
        api_base=srv.base_url,
        api_key="sk-test",
        timeout_s=5.0,
        max_retries=2,
        backoff_base_s=0.01,
        backoff_max_s=0.05,
    )


def user_preset(srv: FakeOpenAIServer, name: str = "scripted-user") -> UserPreset:
    return UserPreset(name=name, kind="tau2", family="test", model=model_at(srv, name))


def n_user_turns(req: dict[str, Any]) -> int:
    """How many times the simulator already spoke (its own turns are `assistant` messages)."""
    return sum(1 for m in req["messages"] if m["role"] == "assistant")


def cancelling_customer(req: dict[str, Any]) -> Reply:
    """A customer for airline task 19: asks to cancel Z7GOZK, then stops."""
    if n_user_turns(req) == 0:
        return Reply.text("Hi, I need to cancel my reservation Z7GOZK please.")
    return Reply.text("Great, thank you. ###STOP###")


def cancelling_agent(req: dict[str, Any]) -> Reply:
    """An agent that cancels Z7GOZK when asked, then confirms."""
    last = req["messages"][-1]
    if last["role"] == "tool" and not str(last["content"]).startswith("Error"):
        return Reply.text("Your reservation Z7GOZK is cancelled.")
    return Reply.tool_call("cancel_reservation", {"reservation_id": "Z7GOZK"})


def idle_agent(req: dict[str, Any]) -> Reply:
    """An agent that talks but never acts (the task then fails the τ² DB check)."""
    return Reply.text("I understand. Is there anything else?")
