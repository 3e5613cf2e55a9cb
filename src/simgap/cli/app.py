"""The `simgap` command: a thin Typer layer over the library API.

Each command lives in its own module with a `register(app)` function, so stages add commands
without touching each other. Errors derived from `SimgapError` print as one line and exit 2.
"""

from __future__ import annotations

import sys
import warnings
from typing import NoReturn

import typer
from rich.markup import escape

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


# click's error classes, as the click Typer runs on has them (recent Typer versions carry their
# own copy of click, older ones use the `click` package): found from Typer's public BadParameter.
_USAGE_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "UsageError"
)
_CLICK_ERROR: type[Exception] = next(
    c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException"
)


def main() -> None:
    """Entry point: every error a user can cause ends as one line `error: ...` and status 2.

    Typer runs in non-standalone mode so that click's usage errors (an unknown option, a value
    that is not a number, a missing argument) come here instead of being drawn as a box of
    usage text: they are bad input like any other. A `SimgapError` carries its own one-line
    message; an `OSError` naming a file (a path that cannot be read or written) is printed as
    that file and the system's reason. Anything else is a bug and keeps its traceback.
    """
    # A call cancelled by Ctrl-C leaves litellm's coroutine unawaited; Python's warning about
    # it (printed at exit, with a source line) would bury the one-line hint.
    warnings.filterwarnings(
        "ignore", message="coroutine .* was never awaited", category=RuntimeWarning
    )
    try:
        rv = app(standalone_mode=False)
    except _CLICK_ERROR as e:
        if type(e).__name__ == "NoArgsIsHelpError":  # the help was printed already
            sys.exit(2)
        hint = ""
        ctx = getattr(e, "ctx", None)
        if isinstance(e, _USAGE_ERROR) and ctx is not None:
            hint = f" (see `{ctx.command_path} --help`)"
        _error(" ".join(str(getattr(e, "format_message", e.__str__)()).split()) + hint)
    except typer.Abort:
        console_err.print("aborted", highlight=False)
        sys.exit(1)
    except SimgapError as e:
        _error(str(e))
    except OSError as e:
        if e.filename is None:
            raise
        target = f"{e.filename} -> {e.filename2}" if e.filename2 is not None else e.filename
        _error(f"{target}: {e.strerror or type(e).__name__}")
    except KeyboardInterrupt:
        _interrupted()
    if isinstance(rv, int) and rv != 0:  # typer.Exit(code), or click's Ctrl-C exit (130)
        if rv == 130:
            _interrupted()
        sys.exit(rv)


def _error(message: str) -> NoReturn:
    console_err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    sys.exit(2)


def _interrupted() -> NoReturn:
    console_err.print("interrupted: finished work is stored; rerun the same command to resume")
    sys.exit(130)


if __name__ == "__main__":
    main()
