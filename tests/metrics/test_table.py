"""Sessions -> ScoredSession: stored annotations reused only when current, exclusions counted."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simgap.annotate.features import FEATURE_NAMES, session_features
from simgap.annotate.rules import RuleAnnotator
from simgap.metrics.inputs import load_set, parse_set_spec
from simgap.metrics.table import reduce_sessions, rules_annotations, stored_features
from simgap.models import Role, SessionStatus, Turn, UserKind, load_questionnaire
from simgap.store import Store
from tests.metrics.synth import feedback, session


def test_reduce_counts_and_values() -> None:
    done = session("synthetic-a", ["hello there", "thanks"], reward=1.0)
    silent = session("synthetic-b", [], reward=0.0)
    unrewarded = session("synthetic-c", ["hi"], reward=None)
    running = session("synthetic-d", ["hi"], status=SessionStatus.RUNNING)
    red = reduce_sessions(
        [done, silent, unrewarded, running],
        feedback={"synthetic-a": [feedback(done, overall_score=3)]},
        questionnaire=load_questionnaire("usi"),
    )
    assert [s.session_id for s in red.sessions] == ["synthetic-a", "synthetic-b", "synthetic-c"]
    assert (red.not_finished, red.no_user_words, red.no_reward) == (1, 1, 1)
    a, b, c = red.sessions
    assert a.task == "retail/1" and a.success == 1.0 and b.success == 0.0 and c.success is None
    assert b.features is None and a.features is not None and a.features.shape == (19,)
    assert a.answers is not None and a.answers[6] == 0.5  # overall_score 3 on 1..5
    assert b.answers is None and a.synthetic


def test_stored_annotations_are_reused_only_when_current(tmp_path: Path) -> None:
    s = session("synthetic-x", ["hi, cancel order #W1", "thanks"])
    row = RuleAnnotator().annotate_sync(s)[-1]
    assert stored_features(row, s) == session_features(s)
    grown = s.model_copy(deep=True)
    grown.turns.append(Turn(idx=len(grown.turns), role=Role.USER, content="one more thing"))
    assert stored_features(row, grown) is None  # the session changed since annotation
    old = row.model_copy(update={"meta": {**row.meta, "usi_features_version": "old"}})
    assert stored_features(old, s) is None
    assert rules_annotations([row, old.model_copy(update={"annotator": "llm:x"})]) == {
        "synthetic-x": row
    }


def test_score_inputs_use_stored_rules_annotations(tmp_path: Path) -> None:
    store = Store(tmp_path / "runs.db")
    sessions = [
        session(
            f"synthetic-{i}",
            ["hello", "please cancel it"],
            task=str(i),
            kind=UserKind.HUMAN,
            batch="b1",
        )
        for i in range(3)
    ]
    for s in sessions:
        store.save_session(s)
    ann = RuleAnnotator()
    store.put_annotations(ann.annotate_sync(sessions[0]))
    # a stored row whose features were tampered with shows that stored values are what is used
    tampered = ann.annotate_sync(sessions[1])
    tampered[-1].features["politeness_rate"] = 0.123
    store.put_annotations(tampered)
    store.close()
    ls = load_set(parse_set_spec(str(tmp_path / "runs.db")), default_kind=UserKind.HUMAN)
    red = reduce_sessions(
        ls.sessions,
        feedback=ls.feedback,
        questionnaire=load_questionnaire("usi"),
        annotations=ls.annotations,
    )
    assert (red.features_from_annotations, red.features_computed) == (2, 1)
    by_id = {x.session_id: x for x in red.sessions}
    i = FEATURE_NAMES.index("politeness_rate")
    assert by_id["synthetic-1"].features is not None
    assert by_id["synthetic-1"].features[i] == 0.123
    assert np.allclose(by_id["synthetic-0"].features, by_id["synthetic-2"].features)
