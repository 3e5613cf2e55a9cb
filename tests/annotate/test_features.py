"""The 19 USI text features on hand-computed examples (arithmetic in the comments)."""

from __future__ import annotations

import pytest

from simgap.annotate.features import (
    DIMENSIONS,
    FEATURE_NAMES,
    session_features,
    user_texts,
    usi_features,
)
from tests.metrics.synth import session

TEXTS = [
    "Hi, please cancel my order #W1234567.",  # 6 words
    "ok",  # 1 word
    "Are you sure? I think that's wrong — I already told you the order.",  # 14 tokens (— too)
    "Actually, how about a refund instead?",  # 6 words
]


def test_nineteen_features_in_four_dimensions() -> None:
    assert len(FEATURE_NAMES) == 19
    assert [len(v) for v in DIMENSIONS.values()] == [7, 4, 5, 3]


def test_hand_computed_session() -> None:
    f = usi_features(TEXTS)
    assert f is not None
    # word counts [6, 1, 14, 6]: total 27, mean 6.75
    assert f["user_words_per_turn"] == pytest.approx(6.75)
    assert f["opening_words"] == 6
    assert f["info_frontload"] == pytest.approx((6 + 1) / 27)
    # population variance: (0.75² + 5.75² + 7.25² + 0.75²) / 4 = 86.75 / 4 = 21.6875
    assert f["verbosity_cv"] == pytest.approx(21.6875**0.5 / 6.75)
    assert f["politeness_rate"] == pytest.approx(1 / 4)  # "please" in turn 1
    assert f["short_msg_rate"] == pytest.approx(1 / 4)  # "ok"
    assert f["formality_rate"] == pytest.approx(1 / 4)  # the em dash in turn 3
    assert f["ack_only_rate"] == pytest.approx(1 / 4)  # "ok"
    assert f["repeat_rate"] == 0.0
    assert f["id_confuse_rate"] == 0.0
    # id-like tokens: {please, cancel, #w1234567} + {} + {already} + {actually, refund, instead}
    assert f["id_density"] == pytest.approx((3 + 0 + 1 + 3) / 4)
    assert f["uncertainty_rate"] == pytest.approx(1 / 4)  # "i think"
    assert f["certainty_rate"] == 0.0
    assert f["pushback_q_rate"] == pytest.approx(1 / 4)  # "are you sure"
    assert f["clarify_q_rate"] == 0.0
    assert f["info_q_rate"] == 0.0
    assert f["emotion_rate"] == 0.0
    assert f["accusation_rate"] == pytest.approx(1 / 4)  # "wrong"
    assert f["pivot_rate"] == pytest.approx(1 / 4)  # "how about", "instead"


def test_question_kinds_are_exclusive_in_priority_order() -> None:
    f = usi_features(
        [
            "are you sure? what do you mean?",  # pushback wins over clarification
            "what do you mean by that?",  # clarification
            "how much is the refund?",  # information
            "thanks",
        ]
    )
    assert f is not None
    assert (f["pushback_q_rate"], f["clarify_q_rate"], f["info_q_rate"]) == (0.25, 0.25, 0.25)


def test_repeat_and_role_confusion_are_session_flags() -> None:
    looping = ["please cancel it"] * 11  # trigram "please cancel it" 11 times > 10
    f = usi_features(looping)
    assert f is not None and f["repeat_rate"] == 1.0
    f = usi_features(["please cancel it"] * 10)
    assert f is not None and f["repeat_rate"] == 0.0
    f = usi_features(["hello", "How can I help you today?"])  # talks like the agent
    assert f is not None and f["id_confuse_rate"] == 1.0


def test_no_user_words_means_no_features() -> None:
    assert usi_features([]) is None
    s = session("synthetic-empty", ["###STOP###"])
    assert user_texts(s) == []
    assert session_features(s) is None


def test_control_tokens_and_interface_messages_are_not_words() -> None:
    s = session(
        "synthetic-ctl",
        ["\\tau show task", "cancel it", "<|survey|> done", "/stop", "thanks ###STOP###"],
    )
    assert user_texts(s) == ["cancel it", "thanks"]
    f = session_features(s)
    assert f is not None and f["opening_words"] == 2
