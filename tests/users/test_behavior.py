"""The parametric customer: grounded in the τ² scenario, deterministic, every move and marker
where the profile says, always labelled synthetic."""

from __future__ import annotations

import time

import pytest

from simgap.models import Role, Termination, Turn
from simgap.users import BehaviorProfile, BehaviorSimulator, ErrorReactions, get_preset
from simgap.users import phrases as ph
from simgap.users.agent_moves import AgentMove, classify_agent_message
from simgap.users.kinds import preset_profile
from simgap.users.profile import MARKERS
from simgap.users.scenario import first_person, match_facts, scenario_facts
from tests.users.helpers import TASK, converse

QUIET = {m: 0.0 for m in MARKERS}  # no markers: the bare content shows


def plain(**kw: object) -> BehaviorProfile:
    return BehaviorProfile.model_validate({**QUIET, "elaborate": 0.0, **kw})


def test_scenario_in_the_first_person() -> None:
    assert first_person("You are Ana Lee.") == "My name is Ana Lee."
    assert first_person("If the agent asks you, say that you will call back.") == (
        "If the agent asks me, say that I will call back."
    )
    assert first_person("You're sure that your flight was delayed.") == (
        "I'm sure that my flight was delayed."
    )
    sf = scenario_facts(TASK)
    assert sf.opening == "I want to cancel reservation ABC123."
    assert [(f.sentence, f.value, sorted(f.keys)) for f in sf.facts] == [
        ("My name is Ana Lee.", "Ana Lee", ["name"]),
        ("My user id is ana_lee_1234.", "ana_lee_1234", ["id", "user"]),
    ]
    assert sf.context == ("It was booked last week for a trip to Denver with two friends.",)
    assert match_facts(sf.facts, {"id"}) == [1]
    assert match_facts(sf.facts, {"name", "number"}) == [0]
    assert match_facts(sf.facts, {"email"}) == []


def test_retail_style_details_answer_to_their_nouns() -> None:
    task = TASK.model_copy(
        update={"known_info": "You are Yusuf Rossi in zip code 19122.", "domain": "retail"}
    )
    (fact,) = scenario_facts(task).facts
    assert fact.sentence == "I am Yusuf Rossi in zip code 19122."
    assert fact.value == "Yusuf Rossi 19122" and {"name", "zip"} <= fact.keys
    lines = ("Hi!", "Could you provide your name and zip code?")
    s = converse(plain(frontload=0.0, terse=1.0, max_turns=3), 1, agent_lines=lines, task=task)
    assert s.user_turns[1].content == "Yusuf Rossi 19122"


@pytest.mark.parametrize(
    ("text", "move"),
    [
        ("Could you give me your user id?", AgentMove.DETAIL),
        ("Which reservation would you like to cancel?", AgentMove.DETAIL),
        ("I found it. Shall I proceed with the cancellation?", AgentMove.PROPOSAL),
        ("Shall I cancel your reservation?", AgentMove.PROPOSAL),
        ("Your reservation ABC123 has been cancelled.", AgentMove.DONE),
        ("Unfortunately, I cannot find that reservation.", AgentMove.TROUBLE),
        ("I am transferring you to a human agent.", AgentMove.TRANSFER),
        ("Let me check that.", AgentMove.STATEMENT),
    ],
)
def test_agent_moves(text: str, move: AgentMove) -> None:
    assert classify_agent_message(text) == move


def test_deterministic_per_seed_and_different_across_seeds() -> None:
    p = get_preset("standin")
    prof = preset_profile(p)
    a = converse(prof, 3)
    assert [(t.content, t.meta) for t in a.turns] == [
        (t.content, t.meta) for t in converse(prof, 3).turns
    ]
    assert any(
        [t.content for t in converse(prof, s).turns] != [t.content for t in a.turns]
        for s in range(4, 8)
    )


def test_a_resumed_session_continues_exactly() -> None:
    prof = preset_profile(get_preset("standin"))
    full = converse(prof, 11)
    for cut in range(1, len(full.turns)):
        if full.turns[cut].role != Role.USER:
            continue
        fresh = BehaviorSimulator("synthetic-behavior", TASK, prof, 11)  # a new process
        assert fresh.next_reply(full.turns[:cut]).content == full.turns[cut].content


def test_frontloading_customer_says_everything_first_then_stops_when_done() -> None:
    lines = ("Hi! How can I help you today?", "Your reservation ABC123 has been cancelled.")
    s = converse(plain(frontload=1.0), 1, agent_lines=lines)
    texts = [t.content for t in s.user_turns]
    assert texts[0] == "I want to cancel reservation ABC123. My name is Ana Lee. " + (
        "My user id is ana_lee_1234."
    )
    assert texts[1] in {f"{p} ###STOP###" for p in ph.STOP}
    assert s.user_turns[-1].meta["move"] == "done"


def test_piecemeal_customer_answers_what_is_asked() -> None:
    lines = (
        "Hi! How can I help you today?",
        "Could you give me your user id?",
        "And may I have your name, please?",
        "Let me check.",
    )
    s = converse(plain(frontload=0.0, max_turns=5), 1, agent_lines=lines)
    texts = [t.content for t in s.user_turns]
    assert texts[:4] == [
        "I want to cancel reservation ABC123.",
        "My user id is ana_lee_1234.",
        "My name is Ana Lee.",
        "Go on, I am listening.",  # nothing left to give
    ]
    assert "###STOP###" in texts[4]  # max_turns
    terse = converse(plain(frontload=0.0, terse=1.0, max_turns=4), 1, agent_lines=lines)
    assert [t.content for t in terse.user_turns][1:3] == ["ana_lee_1234", "Ana Lee"]
    assert terse.user_turns[1].meta["bare"] is True


def test_withholding_then_giving_the_detail() -> None:
    lines = (
        "Hi! How can I help you today?",
        "Could you give me your user id?",
        "Could you give me your user id, please?",
    )
    s = converse(plain(frontload=0.0, withhold=1.0, max_turns=4), 2, agent_lines=lines)
    texts = [t.content for t in s.user_turns]
    assert texts[1] in ph.WITHHOLD and s.user_turns[1].meta["withheld"] == [1]
    assert texts[2] == "My user id is ana_lee_1234."  # asked again: it gives it


def test_proposals_get_a_bare_ack_or_a_confirmation() -> None:
    lines = ("Hi!", "Shall I proceed with the cancellation?")
    acks = converse(plain(ack_only=1.0, max_turns=3), 1, agent_lines=lines)
    assert acks.user_turns[1].content in ph.ACKS
    full = converse(plain(ack_only=0.0, max_turns=3), 1, agent_lines=lines)
    assert full.user_turns[1].content in ph.CONFIRM


@pytest.mark.parametrize("reaction", ["pushes_back", "pivots", "escalates", "repeats_request"])
def test_error_reactions(reaction: str) -> None:
    lines = ("Hi!", "Unfortunately, I cannot do that.")
    prof = plain(on_error=ErrorReactions(**{reaction: 1.0}), max_turns=3)
    turn = converse(prof, 5, agent_lines=lines).user_turns[1]
    assert turn.meta["reaction"] == reaction
    if reaction == "repeats_request":
        assert turn.content == "Like I said, I want to cancel reservation ABC123."
    else:
        assert turn.content in ph.ERROR_PHRASES[reaction]


def test_giving_up_ends_the_chat_and_a_transfer_is_acknowledged() -> None:
    lines = ("Hi!", "Unfortunately, I cannot do that.")
    s = converse(plain(on_error=ErrorReactions(gives_up=1.0)), 5, agent_lines=lines)
    last = s.user_turns[-1]
    assert len(s.user_turns) == 2 and last.content is not None
    assert last.content.startswith("Forget it") and last.content.endswith("###STOP###")
    sim = BehaviorSimulator("b", TASK, plain(), 1)
    history = [
        Turn(idx=0, role=Role.AGENT, content="Hi!"),
        Turn(idx=1, role=Role.USER, content="I want to cancel reservation ABC123."),
        Turn(idx=2, role=Role.AGENT, content="I am transferring you to a human agent."),
    ]
    r = sim.next_reply(history)
    assert r.content == "###TRANSFER###" and r.stop == Termination.TRANSFER


def test_self_correction_and_long_turns() -> None:
    lines = ("Hi!", "Could you give me your user id?")
    s = converse(plain(frontload=0.0, self_correction=1.0, max_turns=3), 1, agent_lines=lines)
    assert s.user_turns[1].content == (
        "My user id is ana_lee_1243. Wait, no, I meant ana_lee_1234."
    )
    long = converse(plain(elaborate=1.0, max_turns=3), 1, agent_lines=lines)
    for t in long.user_turns:
        assert t.content is not None and len(t.content.replace("###STOP###", "").split()) > 30
    assert "It was booked last week for a trip to Denver" in (long.user_turns[0].content or "")


def test_every_reply_is_labelled_synthetic() -> None:
    s = converse(preset_profile(get_preset("standin")), 9)
    assert all(t.meta["synthetic"] is True for t in s.user_turns)
    assert all(t.meta["profile"] == "standin" for t in s.user_turns)


def test_standin_and_behavior_profiles_differ_the_way_the_paper_reports() -> None:
    """The stand-in leans toward people (SPEC §5: people write short turns ~29% of the time
    and polite ones ~15%; GPT-4o 1% and 49%): shorter, less polite, more casual, piecemeal."""
    from simgap.annotate.features import session_features

    def mean_feature(name: str, feature: str) -> float:
        prof = preset_profile(get_preset(name))
        vals = [session_features(converse(prof, s)) for s in range(200)]
        return sum(v[feature] for v in vals if v) / len(vals)

    assert mean_feature("standin", "short_msg_rate") > mean_feature("behavior", "short_msg_rate")
    assert mean_feature("standin", "politeness_rate") < mean_feature("behavior", "politeness_rate")
    assert mean_feature("standin", "opening_words") < mean_feature("behavior", "opening_words")
    assert mean_feature("standin", "user_words_per_turn") < mean_feature(
        "behavior", "user_words_per_turn"
    )
    assert mean_feature("standin", "emotion_rate") > mean_feature("behavior", "emotion_rate")


def test_fast_no_model() -> None:
    prof = preset_profile(get_preset("standin"))
    t0 = time.perf_counter()
    turns = sum(len(converse(prof, s).user_turns) for s in range(200))
    rate = turns / (time.perf_counter() - t0)
    assert rate > 500, f"{rate:.0f} user turns/s"
