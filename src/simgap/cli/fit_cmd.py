"""`simgap fit`: a behaviour profile fitted on a reference set, for the `grounded` simulator."""

from __future__ import annotations

from pathlib import Path

import typer

from simgap.cli.common import console


def fit(
    reference: str = typer.Option(
        ..., "--reference", "-r", help="The set to fit on, as in `simgap score -r` (people)."
    ),
    out: Path = typer.Option(Path("profile.json"), "--out", "-o", help="Profile JSON to write."),
    name: str = typer.Option("grounded", "--name", help="Name stored in the profile."),
) -> None:
    """Fit the parametric customer's profile (marker rates, disclosure, turn length, error
    reactions, questionnaire answers) on a reference set, measured by simgap's annotator.

    Example:

        simgap fit -r study.db:user_kind=human -o profile.json
        simgap run -d airline -n 20 -u grounded --user-profile profile.json
    """
    from simgap.annotate.profile_fit import fit_profile_report
    from simgap.errors import ConfigError
    from simgap.metrics.inputs import load_set, parse_set_spec
    from simgap.models import SessionStatus, UserKind

    ls = load_set(parse_set_spec(reference), default_kind=UserKind.HUMAN)
    sessions = [s for s in ls.sessions if s.status == SessionStatus.DONE]
    ids = {s.session_id for s in sessions}
    fbs = [f for sid, items in ls.feedback.items() if sid in ids for f in items]
    try:
        report = fit_profile_report(sessions, fbs, name=name, source=reference)
    except ValueError as e:
        raise ConfigError(f"{reference}: {e}") from None
    profile = report.profile
    if ls.synthetic:
        profile = profile.model_copy(update={"source": f"{reference} (SYNTHETIC reference)"})
    profile.save(out)
    console.print(
        f"fitted on {report.sessions} sessions ({len(fbs)} questionnaires): {profile.summary()}",
        highlight=False,
    )
    if report.defaulted:
        console.print(
            f"[yellow]too little evidence[/] (defaults kept): {', '.join(report.defaulted)}",
            highlight=False,
        )
    if ls.synthetic:
        console.print("[yellow]note[/] the reference is SYNTHETIC: so is this profile")
    console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add `simgap fit`."""
    app.command("fit")(fit)
