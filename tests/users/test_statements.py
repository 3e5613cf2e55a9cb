"""The parametric customer answers from the WHOLE scenario (issue 16): a choice or a value the
scenario states in `reason_for_call` or `task_instructions` is given when the agent asks for
it, in the scenario's words only, and how it is given (at once, bare, refused first, vague,
after pushing back or not at all) follows the behaviour profile. Everything here is
SYNTHETIC: no person said any of it."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simgap.agents import probe_words as pw
from simgap.annotate.attribution import attribute_failure
from simgap.domains import load_tasks
from simgap.models import FailureReason, Role, Task, Turn
from simgap.store import Store
from simgap.users import BehaviorProfile, BehaviorSimulator, ErrorReactions, get_preset
from simgap.users import phrases as ph
from simgap.users.agent_moves import AgentMove, classify_agent_message
from simgap.users.base import UserReply
from simgap.users.kinds import preset_profile
from simgap.users.profile import MARKERS
from simgap.users.statements import bare_value, parse_request, scenario_statements
from tests.agents.helpers import run_probe

QUIET = {m: 0.0 for m in MARKERS}

# A hand-built scenario: the identifiers in `known_info`, the choices elsewhere.
CABIN = Task(
    domain="airline",
    task_id="h1",
    reason_for_call=(
        "You want to change reservation QX7Z2B. You want to fly in business on both legs."
    ),
    known_info="You are Ana Lee.\nYour user id is ana_lee_1234.",
    task_instructions=(
        "You also want to add 2 checked bags.\n"
        "Be polite and never reveal the price you paid.\n"
        "If the agent asks for the travel insurance, say that you do not want it.\n"
        "If and only if the agent says business is full, you want to downgrade to basic "
        "economy.\n"
        "You want to add your friend Kevin Smith, DOB 2001-04-12."
    ),
)
CABIN_Q = "Could you tell me your cabin class (basic economy, economy or business)?"


def plain(**kw: object) -> BehaviorProfile:
    return BehaviorProfile.model_validate(
        {**QUIET, "elaborate": 0.0, "frontload": 0.0, "max_turns": 20, **kw}
    )


def ask(sim: BehaviorSimulator, *questions: str) -> list[str]:
    """The customer's opening, then its answer to each question in turn."""
    turns = [Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?")]
    out = []
    for q in (None, *questions):
        if q is not None:
            turns.append(Turn(idx=len(turns), role=Role.AGENT, content=q))
        r = sim.next_reply(turns)
        turns.append(Turn(idx=len(turns), role=Role.USER, content=r.content, meta=r.meta))
        out.append(r.content or "")
    return out[1:]


def test_a_choice_stated_in_the_reason_is_given_when_asked() -> None:
    sim = BehaviorSimulator("b", CABIN, plain(), 1)
    (answer,) = ask(sim, CABIN_Q)
    assert answer == "I want to fly in business on both legs."
    (bare,) = ask(BehaviorSimulator("b", CABIN, plain(terse=1.0), 1), CABIN_Q)
    assert bare == "business"


def test_values_and_rules_from_the_instructions_answer_their_questions() -> None:
    sim = BehaviorSimulator("b", CABIN, plain(terse=1.0), 1)
    bags, passenger, dob, insurance = ask(
        sim,
        "What is your total number of checked bags?",
        "May I have your passenger 2's first and last name?",
        "What is your passenger 2's date of birth, please?",
        "Please give me your choice about travel insurance.",
    )
    assert (bags, passenger, dob) == ("2", "Kevin Smith", "2001-04-12")
    assert insurance == "I do not want it."  # the scenario's own answer to that question
    # passenger 2 is not the customer: never its own name, even when that is not given yet
    (other,) = ask(BehaviorSimulator("b", CABIN, plain(), 1), "What is passenger 2's name?")
    assert "Ana Lee" not in other and "Kevin Smith" in other


def test_the_longest_offered_option_wins_and_a_condition_stays_a_condition() -> None:
    task = CABIN.model_copy(update={"reason_for_call": "You want to change reservation QX7Z2B."})
    (answer,) = ask(BehaviorSimulator("b", task, plain(), 1), CABIN_Q)
    assert answer == "If and only if business is full, I want to downgrade to basic economy."
    sts = scenario_statements(task)
    cond = next(s for s in sts if s.sentence == answer)
    assert bare_value(cond, parse_request(CABIN_Q)) == "basic economy"  # not "economy"


def test_directions_for_playing_the_part_are_never_said() -> None:
    said = " ".join(s.sentence for s in scenario_statements(CABIN)).lower()
    assert "polite" not in said and "reveal" not in said and "price you paid" not in said
    assert "agent asks" not in said  # an answer rule is said as its answer only


SCENARIO_WORDS_EXTRA = {"i", "me", "my", "mine", "myself", "am", "im", "m", "name", "is", "dont"}


def phrase_words() -> set[str]:
    lists = [
        *ph.MARKER_PHRASES.values(),
        *ph.ERROR_PHRASES.values(),
        ph.ACKS,
        ph.CONFIRM,
        ph.LISTENING,
        ph.UNKNOWN,
        ph.WITHHOLD,
        ph.STOP,
        ph.FILLERS,
        ph.DASH_OPENERS,
        ph.INFORMAL_OPENERS,
        ph.VAGUE_ANSWERS,
        (ph.AFTER_NONE,),
    ]
    return {w for options in lists for p in options for w in re.findall(r"[a-z0-9]+", p.lower())}


QUESTIONS = [t.format(label=pw.label(thing)) for t in pw.ASK for thing in pw.LABELS] + [
    t.format(label=pw.label(f"passenger 2 {x}")) for t in pw.ASK_AGAIN for x in ("name", "dob")
]


@settings(max_examples=60, deadline=None)
@given(
    task_index=st.integers(0, 49),
    seed=st.integers(0, 10_000),
    questions=st.lists(st.sampled_from(QUESTIONS), min_size=1, max_size=8),
    profile=st.sampled_from(["behavior", "standin"]),
)
def test_never_a_word_that_is_not_in_the_scenario(
    task_index: int, seed: int, questions: list[str], profile: str
) -> None:
    """Whatever the agent asks, every word the customer says is the scenario's, its phrase
    lists' or the first person's (self-corrections, which garble an id on purpose, aside)."""
    task = load_tasks("airline")[task_index]
    scenario = " ".join(
        p for p in (task.reason_for_call, task.known_info, task.task_instructions) if p
    )
    allowed = set(re.findall(r"[a-z0-9]+", scenario.lower())) | phrase_words()
    allowed |= SCENARIO_WORDS_EXTRA
    sim = BehaviorSimulator("b", task, preset_profile(get_preset(profile)), seed)
    for answer in ask(sim, *questions):
        if "Wait, no, I meant" in answer or "wait, no, i meant" in answer:
            continue
        extra = set(re.findall(r"[a-z0-9]+", answer.lower())) - allowed - {"stop", "transfer"}
        assert not extra, (task.key, answer)


def test_withholding_is_the_profiles() -> None:
    q = "What is your total number of checked bags?"
    first, second = ask(BehaviorSimulator("b", CABIN, plain(withhold=1.0), 1), q, q)
    assert first in ph.WITHHOLD and "2" not in first
    assert second == "I also want to add 2 checked bags."  # asked again, it gives it
    (at_once,) = ask(BehaviorSimulator("b", CABIN, plain(withhold=0.0), 1), q)
    assert at_once == "I also want to add 2 checked bags."


def test_a_vague_turn_leaves_the_choice_unsaid() -> None:
    sim = BehaviorSimulator("b", CABIN, plain(vague=1.0), 1)
    (answer,) = ask(sim, CABIN_Q)
    assert "business" not in answer.lower()
    assert any(answer.startswith(v) for v in ph.VAGUE_ANSWERS)
    # known identifiers are never made vague: people copy those from their account
    (uid,) = ask(BehaviorSimulator("b", CABIN, plain(vague=1.0), 1), "What is your user id?")
    assert "ana_lee_1234" in uid


def test_being_asked_again_draws_the_error_reaction() -> None:
    """A repeated question is friction: the customer reacts as after an agent error (pushes
    back, gives up ...) before it answers; one that never reacts just answers."""
    again = "I still need your cabin class (basic economy, economy or business) to go on."
    quits = plain(vague=1.0, on_error=ErrorReactions(gives_up=1.0))
    first, second = ask(BehaviorSimulator("b", CABIN, quits, 1), CABIN_Q, again)
    assert "business" not in first.lower()
    assert second.startswith("Forget it") and second.endswith("###STOP###")
    pushes = plain(on_error=ErrorReactions(pushes_back=1.0))
    _, pushed = ask(BehaviorSimulator("b", CABIN, pushes, 1), CABIN_Q, again)
    assert pushed in ph.ERROR_PHRASES["pushes_back"]
    calm = plain(vague=0.0)
    _, answered = ask(BehaviorSimulator("b", CABIN, calm, 1), CABIN_Q, again)
    assert answered == "I want to fly in business on both legs."


@pytest.mark.parametrize(
    ("text", "move"),
    [
        (CABIN_Q, AgentMove.DETAIL),
        ("To continue I will need your total number of checked bags. What is it?", "detail"),
        ("Done: reservation X1Y2Z3 is cancelled. Shall I go ahead (yes/no)?", "proposal"),
        ("All set: reservation X1Y2Z3 now has 2 checked bags. Is there anything else?", "done"),
        ("I am sorry, I can't do that. Is there anything else I can help with?", "trouble"),
        ("Your reservation has been cancelled. Anything else I can help you with?", "done"),
    ],
)
def test_a_pending_question_outranks_a_report(text: str, move: str) -> None:
    assert classify_agent_message(text) == move


# -- with the probe agent on τ² tasks whose gold needs a choice stated outside known_info -------
CHOICE_TASKS = ("7", "8", "11", "12")  # cabin class, passenger, reservation id, bags


@pytest.mark.slow
async def test_a_forthcoming_customer_reaches_gold_where_choices_are_needed(tmp_path) -> None:
    """The `behavior` preset (front-loads, never vague, never withholds, never gives up) gets
    reward 1.0 with the probe on the demo's tasks whose gold needs a choice stated in the
    reason or the instructions. Without answering from the whole scenario it cannot: it would
    only ever say `known_info` and the opening (reward 0 on all four)."""
    store = Store(str(tmp_path / "runs.db"))
    tasks = {t.task_id: t for t in load_tasks("airline")}
    for tid in CHOICE_TASKS:
        sim = BehaviorSimulator("behavior", tasks[tid], preset_profile(get_preset("behavior")), 7)
        s = await run_probe(store, tasks[tid], sim, seed=7)
        assert s.reward is not None and s.reward.value == 1.0, (tid, s.termination)
    store.close()


@pytest.mark.slow
async def test_a_customer_who_stays_vague_and_gives_up_fails_by_its_own_doing(tmp_path) -> None:
    """Same task, a profile that is vague and gives up when asked again: the session ends by
    the customer before the gold, and the failure is attributed to the user."""
    store = Store(str(tmp_path / "runs.db"))
    task = next(t for t in load_tasks("airline") if t.task_id == "12")
    prof = plain(vague=1.0, on_error=ErrorReactions(gives_up=1.0))
    s = await run_probe(store, task, BehaviorSimulator("vague", task, prof, 7), seed=7)
    assert s.reward is not None and s.reward.value == 0.0
    assert s.termination is not None and s.termination.value == "user_stop"
    label = attribute_failure(s, task)
    assert label is not None and label.reason == FailureReason.GAVE_UP_EARLY
    store.close()


# -- the two presets the demo compares: the same mechanism, different probabilities -----------
def preset_sim(name: str, seed: int, task: Task = CABIN, **override: object) -> BehaviorSimulator:
    prof = preset_profile(get_preset(name))
    return BehaviorSimulator(name, task, prof.model_copy(update=override), seed)


def replies(sim: BehaviorSimulator, *questions: str) -> list[UserReply]:
    """Like `ask`, the replies themselves (text and meta)."""
    turns = [Turn(idx=0, role=Role.AGENT, content="Hi! How can I help you today?")]
    out = []
    for q in (None, *questions):
        if q is not None:
            turns.append(Turn(idx=len(turns), role=Role.AGENT, content=q))
        r = sim.next_reply(turns)
        turns.append(Turn(idx=len(turns), role=Role.USER, content=r.content, meta=r.meta))
        out.append(r)
    return out[1:]


@pytest.mark.parametrize("seed", range(20))
def test_behavior_answers_the_cabin_question_with_the_scenarios_cabin(seed: int) -> None:
    """`behavior` (LLM-like: never vague, never withholds) says the scenario's cabin class the
    first time it is asked, on every seed."""
    (r,) = replies(preset_sim("behavior", seed), CABIN_Q)
    assert "business" in (r.content or "").lower()
    assert r.meta.get("statements") == [0] and "withheld_statements" not in r.meta


def test_standin_that_always_withholds_withholds_the_cabin() -> None:
    """`standin` with its withholding probability set to 1 refuses the first time, whatever
    the seed; with 0 (and never vague) it answers at once."""
    for seed in range(10):
        (r,) = replies(preset_sim("standin", seed, withhold=1.0), CABIN_Q)
        assert "business" not in (r.content or "").lower()
        assert r.meta.get("withheld_statements") == [0]
    for seed in range(10):
        (r,) = replies(preset_sim("standin", seed, withhold=0.0, vague=0.0), CABIN_Q)
        assert "business" in (r.content or "").lower(), r.content


def test_standin_gives_the_cabin_less_often_than_behavior() -> None:
    """Over 400 seeds: `behavior` answers the cabin question at once every time; `standin`
    with probability (1 - withhold) * (terse + (1 - terse) * (1 - vague)) (a bare answer is
    the option itself, never vague): 0.7 * (0.5 + 0.5 * 0.7) = 0.595 with the preset's
    numbers (hand-computed; 400 draws: sd 0.025, allowed ±0.08)."""

    def share(name: str) -> float:
        hits = 0
        for seed in range(400):
            (r,) = replies(preset_sim(name, seed), CABIN_Q)
            hits += r.meta.get("statements") == [0]
        return hits / 400

    prof = preset_profile(get_preset("standin"))
    expected = (1 - prof.withhold) * (prof.terse + (1 - prof.terse) * (1 - prof.vague))
    assert expected == pytest.approx(0.595)  # the preset's numbers, as the docs give them
    assert share("behavior") == 1.0
    assert abs(share("standin") - expected) < 0.08


def test_replies_are_determined_by_the_seed() -> None:
    qs = (CABIN_Q, "What is your total number of checked bags?", CABIN_Q, "What is your user id?")
    for name in ("behavior", "standin"):
        a = [(r.content, r.meta) for r in replies(preset_sim(name, 5), *qs)]
        b = [(r.content, r.meta) for r in replies(preset_sim(name, 5), *qs)]
        assert a == b
    runs = {tuple(r.content for r in replies(preset_sim("standin", s), *qs)) for s in range(8)}
    assert len(runs) > 1  # the seed matters
