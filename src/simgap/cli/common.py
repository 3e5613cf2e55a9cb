"""Helpers shared by CLI commands: consoles and option parsing."""

from __future__ import annotations

from rich.console import Console, RenderableType
from rich.measure import Measurement

console = Console()
console_err = Console(stderr=True)


def print_whole(*renderables: RenderableType) -> None:
    """Print tables whole: a terminal gets its own width (Rich wraps to fit); a pipe or a file
    gets each table at its natural width, so no column is squeezed and no header wrapped
    (leaderboards are read back by scripts and people alike)."""
    if console.is_terminal:
        for r in renderables:
            console.print(r)
        return
    for r in renderables:
        natural = Measurement.get(console, console.options.update(width=100_000), r).maximum
        Console(file=console.file, width=max(80, natural)).print(r)


def split_csv(value: str) -> list[str]:
    """`"a, b,,c"` -> `["a", "b", "c"]`."""
    return [v.strip() for v in value.split(",") if v.strip()]
