"""simgap's default protocol against τ²-bench's real Orchestrator: 0 mismatches.

Every case scripts the agent's and the user's model replies; the harness (tau2_diff.py) feeds
them through τ²'s `Orchestrator` (its `LLMAgent` and `UserSimulator` calling the scripted
models over HTTP) and through `simgap run`'s sweep runner, then compares every request each
model received, the trajectory, the termination reason and the reward. Cases cover every
domain (airline, retail, telecom with user tools, mock with an initial history), parallel tool
calls, tool errors, invalid JSON arguments, empty messages, agent stop tokens, the user's stop,
transfer and out-of-scope tokens, model exceptions, and the step and error limits reached on
every kind of step. `pytest -s` prints the counts; `test_a_planted_divergence_is_caught`
shows the comparison fails when simgap's step limit is off by one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeOpenAIServer, FakeToolCall, Reply
from tests.plugins.counts import report
from tests.sessions.tau2_diff import Case, Compared, run_case

# One xdist worker runs the whole module (its module fixture runs every case through τ²'s orchestrator once (~34 s)): tests/plugins/schedule.py.
pytestmark = pytest.mark.xdist_group("tau2-differential")

R = Reply.text
STOP = "Thank you, that is all. ###STOP###"
AIRLINE = ("airline", "19")  # cancel Z7GOZK (gold: cancel_reservation)
RETAIL = ("retail", "36")  # modify three items of #W9348897 (gold + communicate_info)
TELECOM = ("telecom", "[mobile_data_issue]airplane_mode_on|data_mode_off[PERSONA:None]")
MOCK = ("mock", "create_task_1")
MOCK_HISTORY = ("mock", "update_task_with_message_history")  # starts from a stored history


def call(name: str, args: dict[str, object] | str, **kw: object) -> Reply:
    return Reply.tool_call(name, args, **kw)  # type: ignore[arg-type]


def calls(*pairs: tuple[str, dict[str, object]]) -> Reply:
    return Reply.multi_tool_call(FakeToolCall(name=n, arguments=a) for n, a in pairs)


OVERFLOW = Reply.error(400, "This model's maximum context length is 8192 tokens (context length)")
CANCEL = call("cancel_reservation", {"reservation_id": "Z7GOZK"})
LOOKUPS = calls(
    ("get_reservation_details", {"reservation_id": "Z7GOZK"}),
    ("get_user_details", {"user_id": "olivia_gonzalez_2305"}),
)
BAD_LOOKUPS = calls(
    ("get_reservation_details", {"reservation_id": "NOSUCH"}),
    ("get_user_details", {"user_id": "nobody_0000"}),
)
RETAIL_GOLD = call(
    "modify_pending_order_items",
    {
        "order_id": "#W9348897",
        "item_ids": ["6117189161", "7453605304", "3799046073"],
        "new_item_ids": ["6700049080", "5320792178", "3234800602"],
        "payment_method_id": "credit_card_8853416",
    },
)


def case(
    name: str,
    where: tuple[str, str],
    agent: list[Reply],
    user: list[Reply],
    covers: str,
    *,
    max_steps: int = 200,
    max_errors: int = 10,
) -> Case:
    """A case; `covers` starts with what τ² must end it with (`=user_stop`, `=max_steps`...)
    and may name its reward (`=1.0`): checked, so a case cannot silently stop testing what
    its name says."""
    return Case(
        name=name,
        domain=where[0],
        task_id=where[1],
        agent=tuple(agent),
        user=tuple(user),
        covers=tuple(covers.split()),
        max_steps=max_steps,
        max_errors=max_errors,
    )


CASES: list[Case] = [
    # -- ordinary conversations, every domain --------------------------------------------------
    case(
        "airline-success",
        AIRLINE,
        [CANCEL, R("Your reservation Z7GOZK is cancelled.")],
        [R("Please cancel my reservation Z7GOZK."), R(STOP)],
        "=user_stop =1.0 airline user_stop success",
    ),
    case(
        "airline-idle-agent",
        AIRLINE,
        [R("I see. Anything else?")],
        [R("Please cancel Z7GOZK."), R(STOP)],
        "=user_stop =0.0 airline user_stop failure",
    ),
    case(
        "retail-success",
        RETAIL,
        [RETAIL_GOLD, R("Done: the camera and the rest are exchanged; you pay 481.5 more.")],
        [R("I want to exchange three items of order #W9348897."), R(STOP)],
        "=user_stop =1.0 retail user_stop success",
    ),
    case(
        "retail-missing-info",
        RETAIL,
        [RETAIL_GOLD, R("Done.")],
        [R("Exchange items of #W9348897 please."), R(STOP)],
        "=user_stop =0.0 retail user_stop communicate_failure",
    ),
    case(
        "telecom-user-tools-success",
        TELECOM,
        [R("Please turn airplane mode off, then turn mobile data on.")],
        [
            R("My mobile data does not work."),
            call("toggle_airplane_mode", {}),
            call("toggle_data", {}),
            R("It works now. ###STOP###"),
        ],
        "=user_stop =1.0 telecom user_tool_calls user_stop success",
    ),
    case(
        "telecom-user-tool-error",
        TELECOM,
        [R("Please toggle airplane mode.")],
        [R("No data."), call("toggle_airplane_mode", {"bogus": 1}), R(STOP)],
        "=user_stop telecom user_tool_calls user_tool_error user_stop",
    ),
    case(
        "mock-success",
        MOCK,
        [call("create_task", {"user_id": "user_1", "title": "Important Meeting"}), R("Created.")],
        [R("Create a task 'Important Meeting' for user_1."), R(STOP)],
        "=user_stop =1.0 mock user_stop success",
    ),
    case(
        "mock-initial-history",
        MOCK_HISTORY,
        [call("update_task_status", {"task_id": "task_2", "status": "completed"}), R("Done.")],
        [R(STOP)],
        "=user_stop mock initial_history user_stop",
    ),
    # -- tool calls ----------------------------------------------------------------------------
    case(
        "airline-parallel-calls",
        AIRLINE,
        [LOOKUPS, CANCEL, R("Cancelled.")],
        [R("Cancel Z7GOZK please."), R(STOP)],
        "=user_stop =1.0 airline parallel_tool_calls user_stop success",
    ),
    case(
        "airline-tool-error-then-success",
        AIRLINE,
        [call("cancel_reservation", {"reservation_id": "XXXXXX"}), CANCEL, R("Cancelled.")],
        [R("Cancel Z7GOZK please."), R(STOP)],
        "=user_stop =1.0 airline tool_error user_stop success",
    ),
    case(
        "airline-text-and-tool-call",
        AIRLINE,
        [
            call("cancel_reservation", {"reservation_id": "Z7GOZK"}, content="Cancelling now."),
            R("Ok."),
        ],
        [R("Cancel Z7GOZK."), R(STOP)],
        "=user_stop =1.0 airline text_and_tool_call user_stop",
    ),
    case(
        "parallel-calls-do-not-exhaust-steps",
        AIRLINE,
        [LOOKUPS, R("Anything else?")],
        [R("Cancel Z7GOZK."), R(STOP)],
        "=user_stop airline parallel_tool_calls user_stop step_counting",
        max_steps=6,  # user, calls, one batch, agent, user stop = 5 steps in τ²
    ),
    # -- model failures as τ² scores them ------------------------------------------------------
    case(
        "agent-invalid-json-arguments",
        AIRLINE,
        [Reply.invalid_tool_args("cancel_reservation", '{"reservation_id": ')],
        [R("Cancel Z7GOZK.")],
        "=agent_error =0.0 airline invalid_json agent_failure",
    ),
    case(
        "agent-arguments-not-an-object",
        RETAIL,
        [Reply.invalid_tool_args("get_order_details", '["#W9348897"]')],
        [R("Where is my order?")],
        "=agent_error =0.0 retail invalid_json agent_failure",
    ),
    case(
        "user-invalid-json-arguments",
        TELECOM,
        [R("Please toggle airplane mode.")],
        [R("No data."), Reply.invalid_tool_args("toggle_airplane_mode", "{")],
        "=agent_error =0.0 telecom invalid_json user_failure",
    ),
    case(
        "agent-empty-three-times-then-answers",
        AIRLINE,
        [Reply.empty(), Reply.empty(), Reply.empty(), CANCEL, R("Cancelled.")],
        [R("Cancel Z7GOZK."), R(STOP)],
        "=user_stop =1.0 airline empty_message_retried user_stop",
    ),
    case(
        "agent-empty-four-times",
        AIRLINE,
        [Reply.empty() for _ in range(4)],
        [R("Cancel Z7GOZK.")],
        "=agent_error =0.0 airline empty_message agent_failure",
    ),
    case(
        "user-empty-four-times",
        MOCK,
        [R("Sure.")],
        [R("Create a task."), *(Reply.empty() for _ in range(4))],
        "=agent_error =0.0 mock empty_message user_failure",
    ),
    case(
        "agent-context-overflow",
        RETAIL,
        # a provider refuses the same conversation every time (τ²'s litellm tries 1 + 3 times)
        [OVERFLOW] * 4,
        [R("Hello.")],
        "=agent_error =0.0 retail model_exception agent_failure",
    ),
    # -- stop tokens ---------------------------------------------------------------------------
    case(
        "agent-stop-token-does-not-end",
        AIRLINE,
        [R("All done. ###STOP###"), CANCEL, R("Cancelled now.")],
        [R("Cancel Z7GOZK."), R("You did not cancel it yet."), R(STOP)],
        "=user_stop =1.0 airline agent_stop_token user_stop success",
    ),
    case(
        "user-transfer",
        AIRLINE,
        [R("I will transfer you.")],
        [R("I want a human."), R("###TRANSFER###")],
        "=user_stop airline user_transfer",
    ),
    case(
        "user-out-of-scope",
        MOCK,
        [R("I cannot help with that.")],
        [R("Tell me a joke."), R("###OUT-OF-SCOPE###")],
        "=user_stop mock user_out_of_scope",
    ),
    # -- step limits on every kind of step ------------------------------------------------------
    case(
        "max-steps-on-user-message",
        AIRLINE,
        [R("Tell me more.")],
        [R("Hi."), R("I want to cancel.")],
        "=max_steps =0.0 airline max_steps on_user_text",
        max_steps=3,
    ),
    case(
        "max-steps-overrides-user-stop",
        AIRLINE,
        [CANCEL, R("Cancelled.")],
        [R("Cancel Z7GOZK."), R(STOP)],
        "=max_steps =0.0 airline max_steps on_user_stop",
        max_steps=5,  # user 1, call 2, batch 3, agent 4, user stop 5
    ),
    case(
        "max-steps-on-agent-message",
        AIRLINE,
        [R("Hello again.")],
        [R("Hi.")],
        "=max_steps =0.0 airline max_steps on_agent_text",
        max_steps=2,
    ),
    case(
        "max-steps-on-agent-tool-call",
        AIRLINE,
        [CANCEL, R("Cancelled.")],
        [R("Cancel Z7GOZK.")],
        "=max_steps =0.0 airline max_steps on_agent_tool_call",
        max_steps=2,  # reached by the call, checked after its results (τ²)
    ),
    case(
        "max-steps-on-tool-results",
        AIRLINE,
        [LOOKUPS, R("Found it.")],
        [R("Cancel Z7GOZK.")],
        "=max_steps =0.0 airline max_steps on_agent_tool_results parallel_tool_calls",
        max_steps=3,
    ),
    case(
        "max-steps-on-user-tool-call",
        TELECOM,
        [R("Please toggle airplane mode.")],
        [R("No data."), call("toggle_airplane_mode", {}), R("Done.")],
        "=max_steps =0.0 telecom max_steps on_user_tool_call",
        max_steps=3,
    ),
    case(
        "max-steps-on-user-tool-results",
        TELECOM,
        [R("Please toggle airplane mode.")],
        [R("No data."), call("toggle_airplane_mode", {}), R("Done.")],
        "=max_steps =0.0 telecom max_steps on_user_tool_results",
        max_steps=4,
    ),
    case(
        "max-steps-one",
        MOCK,
        [R("Sure.")],
        [R("Create a task.")],
        "=max_steps =0.0 mock max_steps on_first_step",
        max_steps=1,
    ),
    # -- error limits ----------------------------------------------------------------------------
    case(
        "max-errors-on-agent-tool-results",
        AIRLINE,
        [BAD_LOOKUPS, R("Sorry.")],
        [R("Cancel something."), R(STOP)],
        "=too_many_errors =0.0 airline max_errors on_agent_tool_results parallel_tool_calls tool_error",
        max_errors=2,
    ),
    case(
        "max-errors-across-steps",
        RETAIL,
        [
            call("get_order_details", {"order_id": "#W0000000"}),
            call("get_order_details", {"order_id": "#W0000001"}),
            R("Not found."),
        ],
        [R("Where is my order?"), R(STOP)],
        "=too_many_errors =0.0 retail max_errors tool_error",
        max_errors=2,
    ),
    case(
        "max-errors-on-user-tool-results",
        TELECOM,
        [R("Please toggle airplane mode.")],
        [R("No data."), call("toggle_airplane_mode", {"bogus": 1}), R(STOP)],
        "=too_many_errors =0.0 telecom max_errors on_user_tool_results user_tool_error",
        max_errors=1,
    ),
    case(
        "max-errors-and-max-steps-same-step",
        AIRLINE,
        [BAD_LOOKUPS, R("Sorry.")],
        [R("Cancel something.")],
        "=too_many_errors =0.0 airline max_errors max_steps same_step",
        max_steps=3,
        max_errors=1,
    ),
]

# Behaviours the issue asks the differential test to cover; each must appear in some case.
REQUIRED = {
    "airline",
    "retail",
    "telecom",
    "mock",
    "parallel_tool_calls",
    "tool_error",
    "user_tool_calls",
    "invalid_json",
    "empty_message",
    "agent_stop_token",
    "user_stop",
    "user_transfer",
    "user_out_of_scope",
    "model_exception",
    "max_steps",
    "max_errors",
    "on_user_text",
    "on_user_stop",
    "on_agent_text",
    "on_agent_tool_call",
    "on_agent_tool_results",
    "on_user_tool_call",
    "on_user_tool_results",
}


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[FakeOpenAIServer, FakeOpenAIServer]]:
    with FakeOpenAIServer() as agent_srv, FakeOpenAIServer() as user_srv:
        yield agent_srv, user_srv


@pytest.fixture(scope="module")
def results(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Compared]:
    store_dir = tmp_path_factory.mktemp("tau2diff")
    agent_srv, user_srv = servers
    return {c.name: run_case(c, agent_srv, user_srv, store_dir) for c in CASES}


@pytest.mark.parametrize("name", [c.name for c in CASES])
def test_case_matches_tau2(results: dict[str, Compared], name: str) -> None:
    r = results[name]
    assert r.mismatches == [], "\n".join(r.mismatches)
    expected = [c[1:] for c in r.case.covers if c.startswith("=")]
    assert r.tau2.termination == expected[0], (r.tau2.termination, r.tau2.error)
    if len(expected) > 1:
        assert r.tau2.reward == float(expected[1])


def test_summary_zero_mismatches_and_full_coverage(results: dict[str, Compared]) -> None:
    totals: Counter[str] = Counter()
    for r in results.values():
        totals.update(r.counts)
    mismatches = sum(len(r.mismatches) for r in results.values())
    terms = Counter(r.tau2.termination for r in results.values())
    rewards = Counter(r.tau2.reward for r in results.values())
    covered = {b for c in CASES for b in c.covers if not b.startswith("=")}
    report(
        f"τ² differential: {len(results)} cases; compared "
        + ", ".join(f"{n} {k}" for k, n in totals.items())
        + f"; {mismatches} mismatches; τ² terminations {dict(terms)}; rewards {dict(rewards)}"
    )
    assert covered >= REQUIRED, sorted(REQUIRED - covered)
    assert mismatches == 0
    # the cases are not trivial: successes and failures, every way of ending
    assert rewards[1.0] >= 5 and rewards[0.0] >= 10
    assert {"user_stop", "max_steps", "too_many_errors", "agent_error"} <= set(terms)


# Limits reached on a tool-call step: τ² checks them only after the results, one step later,
# so one more allowed step ends these the same way (which the planted run confirms).
DEFERRED = {"max-steps-on-agent-tool-call", "max-steps-on-user-tool-call"}


def test_a_planted_divergence_is_caught(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer], tmp_path: Path
) -> None:
    """An off-by-one in simgap's step limit (planted through the harness's parameter: simgap
    gets max_steps + 1, τ² max_steps) must be reported by every case a step limit decides."""
    agent_srv, user_srv = servers
    limited = [c for c in CASES if "max_steps" in c.covers and "max_errors" not in c.covers]
    caught = {
        c.name: run_case(c, agent_srv, user_srv, tmp_path, max_steps_offset=1).mismatches
        for c in limited
    }
    flagged = sorted(n for n, m in caught.items() if m)
    example = next(m for m in caught.values() if m)
    report(
        f"planted max_steps+1 in simgap: {len(flagged)}/{len(limited)} step-limit cases report "
        f"mismatches ({sum(len(m) for m in caught.values())} in all), e.g. {example[0]!r}; "
        f"unchanged, as τ² defers the check past a tool call: {sorted(DEFERRED)}"
    )
    assert set(flagged) == {c.name for c in limited} - DEFERRED
    assert all(not caught[n] for n in DEFERRED)
    assert any(m.startswith("termination") for ms in caught.values() for m in ms)


def test_the_paper_protocol_is_not_tau2(
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer], tmp_path: Path
) -> None:
    """The other protocol differs where it should (a second planted divergence)."""
    agent_srv, user_srv = servers
    by_name = {c.name: c for c in CASES}
    r = run_case(by_name["user-transfer"], agent_srv, user_srv, tmp_path, protocol="paper")
    assert any(m.startswith(("user requests", "termination", "trajectory")) for m in r.mismatches)


CLI_CASES = (
    "airline-success",
    "retail-success",
    "telecom-user-tools-success",
    "mock-initial-history",
    "agent-stop-token-does-not-end",
    "agent-invalid-json-arguments",
    "agent-empty-four-times",
    "max-steps-overrides-user-stop",
    "max-errors-on-agent-tool-results",
)


@pytest.mark.parametrize("name", CLI_CASES)
def test_simgap_run_command_gives_tau2s_outcome(
    results: dict[str, Compared],
    servers: tuple[FakeOpenAIServer, FakeOpenAIServer],
    tmp_path: Path,
    name: str,
) -> None:
    """The default `simgap run` (the command, flags as a user types them, no temperature
    given) ends each case as τ²'s Orchestrator did, with τ²'s reward and trajectory."""
    from typer.testing import CliRunner

    from simgap.cli.app import app
    from simgap.domains import to_tau2_messages
    from simgap.sessions.protocol import tau2_reason
    from simgap.store import Store
    from tests.sessions.tau2_diff import (
        AGENT_MODEL,
        FILLER_AGENT,
        FILLER_USER,
        USER_MODEL,
        _script,
        norm_trajectory,
    )

    c = next(x for x in CASES if x.name == name)
    agent_srv, user_srv = servers
    _script(agent_srv, c.agent, FILLER_AGENT)
    _script(user_srv, c.user, FILLER_USER)
    db = tmp_path / "runs.db"
    args = [
        *("run", "-d", c.domain, "--task-ids", c.task_id, "-u", "tau2"),
        *("--user-model", USER_MODEL, "--user-api-base", user_srv.base_url),
        *("--agent", AGENT_MODEL, "--agent-api-base", agent_srv.base_url),
        *("--max-steps", str(c.max_steps), "--max-errors", str(c.max_errors)),
        *("--no-cache", "-o", str(db)),
    ]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output
    (s,) = Store(db).iter_sessions()
    tau2 = results[name].tau2
    assert s.termination is not None and tau2_reason(s.termination) == tau2.termination
    assert s.reward is not None and s.reward.value == tau2.reward
    assert norm_trajectory(to_tau2_messages(s.turns)) == tau2.trajectory
    assert {q["temperature"] for q in agent_srv.requests + user_srv.requests} == {0.0}
