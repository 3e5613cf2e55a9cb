"""`simgap simulators list|show`: the preset zoo and whether each can run here."""

from __future__ import annotations

import typer
from rich.table import Table

from simgap.cli.common import console

simulators_app = typer.Typer(
    help="User-simulator presets (the zoo). Example: simgap simulators show standin",
    no_args_is_help=True,
)


@simulators_app.command("list")
def list_() -> None:
    """Every preset with its family, provider, model and whether its key/endpoint is set.

    Example: simgap simulators list
    """
    from simgap.users.zoo import zoo_rows

    t = Table(title="user simulators", title_justify="left")
    t.add_column("name", no_wrap=True)  # names are what people copy: never cut them
    for col in ("family", "provider", "model", "configured?"):
        t.add_column(col, overflow="fold")
    for r in zoo_rows():
        family = r.family
        if r.synthetic:  # non-LLM stand-ins are labelled wherever they are shown
            family = (
                "[yellow]synthetic[/]"
                if family == "synthetic"
                else f"{family} [yellow](synthetic)[/]"
            )
        mark = "[green]yes[/]" if r.ready else "[red]no[/]"
        t.add_row(r.name, family, r.provider, r.model, f"{mark} {r.detail}")
    console.print(t)
    console.print(
        "add one: an entry in simgap/users/data/presets.yaml (see docs/simulators.md); "
        "any LLM preset takes another model with --user-model",
        highlight=False,
    )


@simulators_app.command("show")
def show(name: str = typer.Argument(..., help="Preset name, e.g. standin.")) -> None:
    """One preset in full (settings, model config without secrets).

    Example: simgap simulators show userlm-8b
    """
    import yaml

    from simgap.users.zoo import describe_preset

    data = describe_preset(name)
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=10_000)
    console.print(text, markup=False)


def register(app: typer.Typer) -> None:
    """Add `simgap simulators`."""
    app.add_typer(simulators_app, name="simulators")
