"""`simgap simulators list|show`: the preset zoo and whether each can run here."""

from __future__ import annotations

import typer
from rich.table import Table

from simgap.cli.common import console

simulators_app = typer.Typer(help="User-simulator presets.", no_args_is_help=True)


@simulators_app.command("list")
def list_() -> None:
    """Every preset with its family, provider, model and whether its key/endpoint is set."""
    from simgap.users import presets
    from simgap.users.zoo import readiness

    t = Table(title="user simulators", title_justify="left")
    for col in ("name", "family", "provider", "model", "configured"):
        t.add_column(col, overflow="fold")
    for p in presets().values():
        r = readiness(p)
        label = p.name + (" [yellow](synthetic)[/]" if p.synthetic else "")
        mark = "[green]yes[/]" if r.ready else "[red]no[/]"
        t.add_row(
            label, p.family, p.provider, p.model.model if p.model else "-", f"{mark} {r.detail}"
        )
    console.print(t)


@simulators_app.command("show")
def show(name: str = typer.Argument(..., help="Preset name.")) -> None:
    """One preset in full (settings, model config without secrets)."""
    import yaml

    from simgap.users import get_preset
    from simgap.users.zoo import readiness

    p = get_preset(name)
    data = p.model_dump(exclude_none=True)
    if p.model is not None:
        data["model"] = p.model.public()
    data["configured"] = readiness(p).detail
    console.print(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), markup=False)


def register(app: typer.Typer) -> None:
    """Add `simgap simulators`."""
    app.add_typer(simulators_app, name="simulators")
