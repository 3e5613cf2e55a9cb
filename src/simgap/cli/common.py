"""Helpers shared by CLI commands: consoles and option parsing."""

from __future__ import annotations

from rich.console import Console

console = Console()
console_err = Console(stderr=True)


def split_csv(value: str) -> list[str]:
    """`"a, b,,c"` -> `["a", "b", "c"]`."""
    return [v.strip() for v in value.split(",") if v.strip()]
