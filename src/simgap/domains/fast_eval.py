"""τ²'s `evaluate_simulation`, with its repeated work taken out and nothing else changed.

For every session, τ²'s evaluator (tau2/evaluator/evaluator.py, `EvaluationType.ALL[_WITH_NL_
ASSERTIONS]`) builds two fresh environments (each parses the domain database), replays the
transcript into one and the task's gold actions into the other, and hashes both databases.
Only the first half depends on the session. Here:

* the gold half (`EnvironmentEvaluator`'s gold environment and its hashes) comes from
  `simgap.domains.gold`, computed once per task and cached;
* the session half uses the environment the session already ran in, when it provably holds
  the state τ²'s replay would rebuild (see `DomainEnvironment.replay_equivalent`), and hashes
  its database once, from memory (from the touched records only when it is copy-on-access,
  `simgap.domains.cow_db`); otherwise it is rebuilt exactly as τ² does (same constructor,
  same `set_state`, same errors);
* everything else is τ²'s own code, called as is: `ActionEvaluator`,
  `CommunicateEvaluator`, `NLAssertionsEvaluator` (it needs an LLM), τ²'s `run_env_assertion`,
  and τ²'s `RewardInfo`/`DBCheck` records; the combination of the parts is a line-for-line
  copy of `evaluate_simulation`'s, so reward, breakdown and details are the same objects.

`tests/domains/test_fast_eval_equivalence.py` is the contract: it compares this with τ²'s
`evaluate_simulation` on every task of every domain.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simgap.domains import tau2_runtime
from simgap.domains.cow_db import cow_db_hash
from simgap.domains.fast_env import cow_pristine
from simgap.domains.gold import gold_outcome


def _mods() -> tuple[Any, Any, Any]:
    sim = tau2_runtime.module("tau2.data_model.simulation")
    tasks = tau2_runtime.module("tau2.data_model.tasks")
    ev = tau2_runtime.module("tau2.evaluator.evaluator")
    return sim, tasks, ev


def predicted_environment(t2task: Any, messages: Sequence[Any], constructor: Any) -> Any:
    """The session's final environment rebuilt as τ²'s `EnvironmentEvaluator` rebuilds it."""
    init = t2task.initial_state
    env = constructor(solo_mode=False)
    env.set_state(
        initialization_data=init.initialization_data if init is not None else None,
        initialization_actions=init.initialization_actions if init is not None else None,
        message_history=list(messages),
    )
    return env


def env_reward(
    t2task: Any,
    messages: Sequence[Any],
    *,
    domain: str,
    registry_name: str,
    live_env: Any | None,
) -> Any:
    """`EnvironmentEvaluator.calculate_reward`, with the gold hashes from the cache and the
    predicted environment given (`live_env`) or rebuilt as τ² rebuilds it."""
    sim, tasks_mod, _ = _mods()
    RewardType = tasks_mod.RewardType
    ec = t2task.evaluation_criteria
    if ec is None:
        return sim.RewardInfo(reward=1.0, info={"note": "No evaluation criteria"})
    if ec.actions is None and ec.env_assertions is None:
        return sim.RewardInfo(
            reward=1.0,
            db_check=sim.DBCheck(db_match=True, db_reward=1.0),
            info={"note": "No expected actions or env assertions"},
        )
    constructor = tau2_runtime.registry().get_env_constructor(registry_name)
    predicted = (
        live_env if live_env is not None else predicted_environment(t2task, messages, constructor)
    )
    gold = gold_outcome(domain, t2task, constructor)
    agent_db_match = gold.agent_db_hash == _db_hash(predicted, domain)
    user_db_match = gold.user_db_hash == predicted.get_user_db_hash()
    db_match = agent_db_match and user_db_match
    db_reward = 1.0 if db_match else 0.0
    db_check = sim.DBCheck(db_match=db_match, db_reward=db_reward)

    env_assertion_checks = []
    env_assertion_reward = 1.0
    for assertion in ec.env_assertions or []:
        success = predicted.run_env_assertion(assertion, raise_assertion_error=False)
        res = sim.EnvAssertionCheck(
            env_assertion=assertion, met=success, reward=1.0 if success else 0.0
        )
        env_assertion_checks.append(res)
        env_assertion_reward *= res.reward

    reward = 1.0
    breakdown: dict[Any, float] = {}
    if RewardType.DB in ec.reward_basis:
        breakdown[RewardType.DB] = db_reward
        reward *= db_reward
    if RewardType.ENV_ASSERTION in ec.reward_basis:
        breakdown[RewardType.ENV_ASSERTION] = env_assertion_reward
        reward *= env_assertion_reward
    return sim.RewardInfo(
        reward=reward,
        db_check=db_check,
        env_assertions=env_assertion_checks,
        reward_basis=ec.reward_basis,
        reward_breakdown=breakdown,
    )


def _db_hash(env: Any, domain: str) -> str | None:
    """τ²'s `env.get_db_hash()`; from the records the session reached when its database is
    copy-on-access (`simgap.domains.cow_db`), else τ²'s own full dump."""
    pristine = cow_pristine(domain)
    if pristine is not None and env.tools is not None:
        h = cow_db_hash(env.tools.db, pristine)
        if h is not None:
            return h
    return env.get_db_hash()  # type: ignore[no-any-return]


def evaluate_simulation_fast(
    messages: Sequence[Any],
    t2task: Any,
    *,
    with_nl_assertions: bool,
    domain: str,
    registry_name: str,
    live_env: Any | None = None,
) -> Any:
    """τ²'s `evaluate_simulation(..., evaluation_type=ALL[_WITH_NL_ASSERTIONS],
    solo_mode=False)` for a conversation that ended by a user or agent stop (the caller has
    already scored every other ending 0, as τ² does)."""
    sim, tasks_mod, _ = _mods()
    RewardType = tasks_mod.RewardType
    ev_act = tau2_runtime.module("tau2.evaluator.evaluator_action")
    ev_com = tau2_runtime.module("tau2.evaluator.evaluator_communicate")
    ev_nl = tau2_runtime.module("tau2.evaluator.evaluator_nl_assertions")
    if t2task.evaluation_criteria is None:
        return sim.RewardInfo(
            reward=1.0, reward_basis=None, info={"note": "No evaluation criteria"}
        )
    trajectory = list(messages)
    env_reward_info = env_reward(
        t2task, trajectory, domain=domain, registry_name=registry_name, live_env=live_env
    )
    action_reward_info = ev_act.ActionEvaluator.calculate_reward(
        task=t2task, full_trajectory=trajectory
    )
    communicate_reward_info = ev_com.CommunicateEvaluator.calculate_reward(
        task=t2task, full_trajectory=trajectory
    )
    nl_reward_info = None
    if with_nl_assertions:
        nl_reward_info = ev_nl.NLAssertionsEvaluator.calculate_reward(
            task=t2task, full_trajectory=trajectory
        )

    # The combination, as in τ²'s evaluate_simulation.
    reward = 1.0
    env_bases = {RewardType.DB, RewardType.ENV_ASSERTION}
    action_bases = {RewardType.ACTION}
    nl_bases = {RewardType.NL_ASSERTION}
    comm_bases = {RewardType.COMMUNICATE}
    task_reward_basis = set(t2task.evaluation_criteria.reward_basis)
    reward_breakdown: dict[Any, float] = {}
    if task_reward_basis & env_bases:
        if env_reward_info.reward_breakdown is not None:
            reward_breakdown.update(env_reward_info.reward_breakdown)
        reward *= env_reward_info.reward
    if task_reward_basis & action_bases:
        if action_reward_info.reward_breakdown is not None:
            reward_breakdown.update(action_reward_info.reward_breakdown)
        reward *= action_reward_info.reward
    if task_reward_basis & nl_bases:
        if nl_reward_info is None:
            raise ValueError(
                "NL assertions are part of the reward basis, but they are not being evaluated."
            )
        if nl_reward_info.reward_breakdown is not None:
            reward_breakdown.update(nl_reward_info.reward_breakdown)
        reward *= nl_reward_info.reward
    if task_reward_basis & comm_bases:
        if communicate_reward_info.reward_breakdown is not None:
            reward_breakdown.update(communicate_reward_info.reward_breakdown)
        reward *= communicate_reward_info.reward

    return sim.RewardInfo(
        reward=reward,
        db_check=env_reward_info.db_check,
        env_assertions=env_reward_info.env_assertions,
        action_checks=action_reward_info.action_checks,
        nl_assertions=nl_reward_info.nl_assertions if nl_reward_info is not None else None,
        communicate_checks=communicate_reward_info.communicate_checks,
        reward_basis=t2task.evaluation_criteria.reward_basis,
        reward_breakdown=reward_breakdown,
        info={
            "env": env_reward_info.info,
            "nl": nl_reward_info.info if nl_reward_info is not None else None,
            "communicate": communicate_reward_info.info,
            "action": action_reward_info.info,
        },
    )
