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
    """Fit per-turn rates of the USI's markers, disclosure, length and questionnaire answers.

    Then: simgap run --user grounded --user-profile profile.json ...
    """
    from simgap.annotate.profile_fit import fit_profile
    from simgap.metrics.inputs import load_set, parse_set_spec
    from simgap.models import UserKind

    ls = load_set(parse_set_spec(reference), default_kind=UserKind.HUMAN)
    fbs = [f for items in ls.feedback.values() for f in items]
    try:
        profile = fit_profile(ls.sessions, fbs, name=name, source=reference)
    except ValueError as e:
        from simgap.errors import ConfigError

        raise ConfigError(f"{reference}: {e}") from None
    profile.save(out)
    rates = ", ".join(f"{k} {v:.2f}" for k, v in profile.rates().items())
    console.print(
        f"fitted on {len(ls.sessions)} sessions ({len(fbs)} questionnaires): {rates}; "
        f"frontload {profile.frontload:.2f}, max_turns {profile.max_turns}",
        highlight=False,
    )
    if ls.synthetic:
        console.print("[yellow]note[/] the reference is SYNTHETIC: so is this profile")
    console.print(f"wrote {out}")


def register(app: typer.Typer) -> None:
    """Add `simgap fit`."""
    app.command("fit")(fit)
