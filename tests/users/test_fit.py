"""Fitting a behaviour profile (`simgap fit`) and running the `grounded` simulator on it.

A hand-computed fit on two small sessions, recovery of a known profile from 600 synthetic
sessions of the parametric customer, the CLI, and `simgap run -u grounded --user-profile`.
Everything here is SYNTHETIC (simulator sessions, `synthetic` ids and batches).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from simgap.annotate import profile_fit
from simgap.annotate.profile_fit import fit_answers, fit_profile, fit_profile_report
from simgap.cli.app import app
from simgap.models import Feedback, Role, Session, SessionStatus, Turn, UserKind
from simgap.store import Store
from simgap.users import (
    BehaviorProfile,
    ErrorReactions,
    UserPreset,
    get_preset,
    preset_profile,
    profile_instructions,
    register_preset,
    registry,
)
from simgap.users.profile import ERROR_REACTIONS, MARKERS, MOVES
from tests.fakes.cli import run_main
from tests.fakes.openai_server import FakeOpenAIServer
from tests.users.helpers import certificate_agent, converse


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run-time presets (`--user-profile`) and the response cache stay inside the test."""
    monkeypatch.setattr(registry, "_EXTRA_PRESETS", {})
    monkeypatch.setenv("SIMGAP_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SIMGAP_PROFILE", raising=False)


def _session(sid: str, lines: list[tuple[Role, str]]) -> Session:
    return Session(
        session_id=sid,
        task_id="t",
        domain="airline",
        user_kind=UserKind.SIMULATOR,
        user_id="synthetic-hand",
        status=SessionStatus.DONE,
        turns=[Turn(idx=i, role=r, content=c) for i, (r, c) in enumerate(lines)],
        meta={"synthetic": True},
    )


A, U = Role.AGENT, Role.USER
HAND = [
    _session(
        "synthetic-a",
        [
            (A, "Hi! How can I help you today?"),
            (U, "I want to cancel my trip, my name is Ana Lee. Thank you."),
            (A, "Could you give me your user id?"),
            (U, "ana_lee_1234"),
            (A, "Unfortunately, I cannot find that reservation."),
            (U, "Are you sure? I think it exists."),
            (A, "Shall I proceed with the cancellation?"),
            (U, "ok."),
            (A, "The reservation has been cancelled."),
            (U, "thanks a lot, bye now"),
        ],
    ),
    _session(
        "synthetic-b",
        [
            (A, "Hi!"),
            (U, "hey i need help with something"),
            (A, "What is your user id, please?"),
            (U, "I prefer not to share that yet."),
            (A, "Could you give me your user id?"),
            (U, "It is bo_chan_5678 and I am in a hurry here."),
            (A, "Sorry, that failed."),
            (U, "What about another option instead? How long will it take?"),
            (A, "Done, it is cancelled."),
            (U, "ok thanks"),
        ],
    ),
]


def test_fit_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    """Decorated turns (> 3 words): A0, A2, A4, B0, B1, B2, B3 = 7.
    politeness: A0 'thank you', A4 'thanks' -> 2/7; hedge: A2 'i think' -> 1/7;
    vague (turns without a hedge: 6): B0 'something' -> 1/6; casual: B0 -> 1/7;
    questions leave out the last turns (A4): info_q B3 'how long' -> 1/6;
    elaborate: after the opening A2, A4, B1, B2, B3, none > 30 words -> 0/5;
    frontload: A0 says 'my name is', B0 does not -> 1/2;
    after a detail request: A1 short, B1 refuses, B2 long -> withhold 1/3, terse 1/2;
    after a proposal: A3 'ok.' -> ack_only 1/1; after errors: A2 pushes back ('are you
    sure'), B3 pivots ('what about ... instead') -> 1/2 each; turns per session 5, 5 -> 5."""
    monkeypatch.setattr(profile_fit, "MIN_EVIDENCE", 1)
    rep = fit_profile_report(HAND, name="hand", source="by hand")
    p = rep.profile
    expect = {
        "politeness": 2 / 7,
        "uncertainty": 1 / 7,
        "vague": 1 / 6,
        "informal": 1 / 7,
        "info_q": 1 / 6,
        "clarify_q": 0.0,
        "confirm_q": 0.0,
        "certainty": 0.0,
        "emotion": 0.0,
        "accusation": 0.0,
        "formal_dash": 0.0,
        "self_correction": 0.0,
        "elaborate": 0.0,
        "frontload": 0.5,
        "withhold": 1 / 3,
        "terse": 0.5,
        "ack_only": 1.0,
    }
    for k, v in expect.items():
        assert getattr(p, k) == pytest.approx(v, abs=1e-4), k
    assert p.on_error.pushes_back == 0.5 and p.on_error.pivots == 0.5
    assert p.on_error.gives_up == p.on_error.escalates == p.on_error.repeats_request == 0.0
    assert p.max_turns == 5 and p.n_sessions == 2 and p.source == "by hand"
    assert rep.evidence["politeness"] == 7 and rep.evidence["withhold"] == 3
    assert rep.defaulted == []


def test_too_little_evidence_keeps_defaults() -> None:
    rep = fit_profile_report(HAND)
    assert {"terse", "ack_only", "withhold", "on_error"} <= set(rep.defaulted)
    assert rep.profile.ack_only == BehaviorProfile().ack_only
    with pytest.raises(ValueError, match="no session with user messages"):
        fit_profile([_session("synthetic-empty", [(A, "Hi!")])])


def test_fit_answers_by_hand() -> None:
    def fb(score: int, reuse: str) -> Feedback:
        return Feedback(
            session_id="s",
            respondent_kind=UserKind.SIMULATOR,
            respondent_id="synthetic-hand",
            answers={"overall_score": score, "reuse": reuse},
        )

    # overall 5 -> 1.0, 3 -> 0.5: mean 0.75, sd 0.25; reuse Yes -> 0.75, No -> 0.25
    out = fit_answers([fb(5, "Yes"), fb(3, "No")])
    assert out["overall_score"].mean == 0.75 and out["overall_score"].sd == 0.25
    assert out["reuse"].mean == 0.5 and out["reuse"].sd == 0.25
    assert "efficiency" not in out


TRUE = BehaviorProfile(
    politeness=0.4,
    uncertainty=0.25,
    certainty=0.1,
    emotion=0.2,
    accusation=0.1,
    clarify_q=0.15,
    info_q=0.2,
    confirm_q=0.1,
    formal_dash=0.1,
    vague=0.2,
    informal=0.3,
    self_correction=0.1,
    frontload=0.3,
    terse=0.4,
    ack_only=0.5,
    elaborate=0.3,
    withhold=0.2,
    on_error=ErrorReactions(
        pushes_back=0.2, repeats_request=0.15, pivots=0.15, gives_up=0.05, escalates=0.1
    ),
    max_turns=8,
)


def test_fitting_recovers_the_profile_of_synthetic_sessions() -> None:
    """Tolerance: three standard errors of a proportion on the evidence it had, + 0.005."""
    t0 = time.perf_counter()
    sessions = [converse(TRUE, seed) for seed in range(600)]
    rep = fit_profile_report(sessions, name="fit")
    assert time.perf_counter() - t0 < 30
    fitted = rep.profile

    def close(name: str, got: float, want: float, n: int) -> None:
        tol = 3 * math.sqrt(want * (1 - want) / n) + 0.005
        assert abs(got - want) <= tol, f"{name}: fitted {got:.3f}, true {want:.3f} ± {tol:.3f}"

    for k in (*MARKERS, *MOVES):
        close(k, getattr(fitted, k), getattr(TRUE, k), rep.evidence[k])
    for k in ERROR_REACTIONS:
        close(k, getattr(fitted.on_error, k), getattr(TRUE.on_error, k), rep.evidence["on_error"])
    assert fitted.max_turns == TRUE.max_turns
    assert rep.defaulted == []


def _store_synthetic(path: Path, profile: BehaviorProfile, n: int) -> None:
    store = Store(path)
    for seed in range(n):
        store.save_session(converse(profile, seed))
    store.close()


def test_fit_cli_writes_a_profile(tmp_path: Path) -> None:
    db = tmp_path / "ref.db"
    _store_synthetic(db, TRUE, 150)
    out = tmp_path / "profile.json"
    ref = f"{db}:user_kind=simulator,user=synthetic-behavior"
    r = CliRunner().invoke(app, ["fit", "-r", ref, "-o", str(out), "--name", "ref"])
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())
    assert "fitted on 150 sessions" in text and "SYNTHETIC" in text
    p = BehaviorProfile.load(out)
    assert p.name == "ref" and p.n_sessions == 150 and "SYNTHETIC" in p.source
    assert abs(p.politeness - TRUE.politeness) < 0.06
    assert json.loads(out.read_text())["version"] == 2
    r = run_main(["fit", "-r", f"{db}:user=nobody", "-o", str(out)])
    r.one_line_error("no session with user messages")


def _run_grounded(
    tmp_path: Path, srv: FakeOpenAIServer, profile_path: Path | None, db: Path
) -> None:
    args = [
        "run",
        "-d",
        "airline",
        "--task-ids",
        "27",
        "-u",
        "grounded",
        "--agent",
        "openai/agent",
        "--agent-api-base",
        srv.base_url,
        "--batch",
        "synthetic-grounded",
        "-o",
        str(db),
    ]
    if profile_path is not None:
        args += ["--user-profile", str(profile_path)]
    r = CliRunner().invoke(app, args)
    assert r.exit_code == 0, r.output


def test_run_grounded_with_a_fitted_profile(
    tmp_path: Path,
    fake_openai_factory: Callable[..., FakeOpenAIServer],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    srv = fake_openai_factory(responder=certificate_agent)
    p1, p2 = tmp_path / "p1.json", tmp_path / "p2.json"
    TRUE.model_copy(update={"name": "p1"}).save(p1)
    TRUE.model_copy(update={"name": "p2", "politeness": 0.9}).save(p2)
    db = tmp_path / "runs.db"
    _run_grounded(tmp_path, srv, p1, db)
    store = Store(db)
    (s,) = list(store.iter_sessions())
    assert s.user_id == "grounded" and s.reward is not None and s.reward.value == 1.0
    assert s.meta["synthetic"] is True
    settings = s.meta["user_preset"]["settings"]
    assert settings["profile"]["name"] == "p1" and settings["engine"] == "behavior"
    assert all(t.meta["profile"] == "p1" and t.meta["synthetic"] for t in s.user_turns)
    store.close()
    # another profile is another simulator: new sessions, the first ones untouched
    monkeypatch.setattr(registry, "_EXTRA_PRESETS", {})
    monkeypatch.setenv("SIMGAP_PROFILE", str(p2))
    assert get_preset("grounded").settings["profile"]["politeness"] == 0.9
    _run_grounded(tmp_path, srv, None, db)
    store = Store(db)
    names = sorted(
        s.meta["user_preset"]["settings"]["profile"]["name"] for s in store.iter_sessions()
    )
    assert names == ["p1", "p2"]
    store.close()


def test_grounded_llm_on_another_presets_model(tmp_path: Path) -> None:
    path = tmp_path / "p.json"
    TRUE.save(path)
    register_preset(
        UserPreset(
            name="grounded-gpt-4o",
            kind="grounded",
            settings={"engine": "llm", "model_preset": "gpt-4o", "profile_path": str(path)},
        )
    )
    p = get_preset("grounded-gpt-4o")
    assert p.model is not None and p.model.model == "gpt-4o"
    words = profile_instructions(preset_profile(p))
    assert "about 40% of your messages" in words and "push back 20%" in words


def test_grounded_without_a_profile_says_how_to_get_one(tmp_path: Path) -> None:
    r = run_main(
        ["run", "-d", "airline", "-n", "1", "-u", "grounded", "-o", str(tmp_path / "x.db")]
    )
    r.one_line_error("simgap fit")
