"""Helpers shared by CLI commands: consoles and option parsing."""

from __future__ import annotations

from rich.console import Console

console = Console()
console_err = Console(stderr=True)
