"""The `simgap` command: a thin Typer layer over the library API.

Each command lives in its own module with a `register(app)` function, so stages add commands
without touching each other. Errors derived from `SimgapError` print as one line and exit 2.
"""

from __future__ import annotations

import sys
import warnings

import typer

from simgap import __version__
from simgap.cli import (
    annotate_cmd,
    demo_cmd,
    feedback_cmd,
    fit_cmd,
    io_cmd,
    report_cmd,
    run_cmd,
    score_cmd,
    simulators_cmd,
    study_cmd,
    sweep_cmd,
)
from simgap.cli.common import console_err
from simgap.errors import SimgapError

app = typer.Typer(
    name="simgap",
    help="Measure how faithful LLM user simulators are to real people (User-Sim Index).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

for _module in (
    run_cmd,
    study_cmd,
    feedback_cmd,
    annotate_cmd,
    fit_cmd,
    score_cmd,
    report_cmd,
    simulators_cmd,
    sweep_cmd,
    io_cmd,
    demo_cmd,
):
    _module.register(app)


@app.callback(invoke_without_command=True)
def _root(
    version: bool = typer.Option(False, "--version", help="Print the version and exit."),
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


INTERRUPTED = "interrupted: finished work is stored; rerun the same command to resume"


def main() -> None:
    """Entry point: run the app, turning SimgapError into a one-line message and Ctrl-C into
    the resume hint with exit status 130 (Typer turns a KeyboardInterrupt into a silent
    exit 130 inside `app()`; nothing else in simgap exits with 130)."""
    # A call cancelled by Ctrl-C leaves litellm's coroutine unawaited; Python's warning about
    # it (printed at exit, with a source line) would bury the one-line hint.
    warnings.filterwarnings(
        "ignore", message="coroutine .* was never awaited", category=RuntimeWarning
    )
    try:
        app()
    except SimgapError as e:
        console_err.print(f"[bold red]error:[/] {e}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        console_err.print(INTERRUPTED, highlight=False, soft_wrap=True)
        sys.exit(130)
    except SystemExit as e:
        if e.code == 130:
            console_err.print(INTERRUPTED, highlight=False, soft_wrap=True)
        raise


if __name__ == "__main__":
    main()
