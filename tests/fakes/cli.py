"""Running `simgap` as a user does: through `simgap.cli.app:main()`, the entry point of the
`simgap` script, which turns errors into one line and an exit status (CliRunner(app) bypasses
it). In-process, so a test pays for τ²'s import once; `run_script` runs the installed script
itself in a subprocess, for the few checks that must see the real process."""

from __future__ import annotations

import contextlib
import io
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simgap.cli.app import main


@dataclass(frozen=True)
class CliResult:
    code: int | str | None
    out: str
    err: str

    def one_line_error(self, *needles: str) -> str:
        """Assert what a user must see for bad input: status 2, exactly one line on stderr,
        `error: ...` naming every needle, no traceback anywhere. Returns the line."""
        everything = self.out + self.err
        assert "Traceback" not in everything, everything
        lines = self.err.strip().splitlines()
        assert self.code == 2, (self.code, everything)
        assert len(lines) == 1, f"{len(lines)} lines on stderr:\n{self.err}"
        line = lines[0]
        assert line.startswith("error: "), line
        for n in needles:
            assert n in line, (n, line)
        return line


def run_main(argv: Sequence[str]) -> CliResult:
    """`simgap ARGV` through `main()`: its exit status and what it printed. An exception that
    escapes `main()` is what the user would see as a traceback: it fails the test as itself."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    sys.argv = ["simgap", *argv]
    code: int | str | None = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
    except SystemExit as e:
        code = e.code
    finally:
        sys.argv = saved
    return CliResult(code, out.getvalue(), err.getvalue())


def run_script(argv: Sequence[str], *, cwd: Path, timeout: float = 120) -> CliResult:
    """The installed `simgap` script (next to this Python) in a subprocess."""
    script = Path(sys.executable).parent / "simgap"
    r = subprocess.run(
        [str(script), *argv], capture_output=True, text=True, cwd=cwd, timeout=timeout
    )
    return CliResult(r.returncode, r.stdout, r.stderr)


# A command typed in a terminal starts with Ctrl-C (SIGINT) at its default action. A test run
# started in the background of a non-interactive shell (`cmd &` in a script, as some CI harnesses
# and our own scripts do) passes SIGINT on *ignored*, and Python then never installs its
# KeyboardInterrupt handler: a Ctrl-C test would see the run carry on to the end (seen: exit 0
# instead of 130, while the same test passed in the foreground). This prefix resets SIGINT to
# its default and then execs the command, whatever the test runner inherited.
_SIGINT_DEFAULT = (
    "import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); "
    "os.execv(sys.argv[1], sys.argv[1:])"
)


def as_typed_in_a_terminal(cmd: Sequence[str]) -> list[str]:
    """`cmd` as a terminal starts it: with Ctrl-C at its default action (see above)."""
    return [sys.executable, "-c", _SIGINT_DEFAULT, *cmd]
