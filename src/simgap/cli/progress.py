"""Rich progress for sweeps: a bar with live success / failure counts."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simgap.models import SessionStatus
from simgap.sessions import SessionOutcome


class SweepProgress:
    """Implements `simgap.sessions.ProgressSink` with a Rich progress bar."""

    def __init__(self, console: Console, label: str = "sessions") -> None:
        self.label = label
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.task: TaskID | None = None
        self.ok = self.fail = self.success = 0

    def __enter__(self) -> SweepProgress:
        self.progress.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.progress.__exit__(exc_type, exc, tb)

    def _stats(self) -> str:
        return f"[green]{self.success} reward=1[/] · {self.ok} done · [red]{self.fail} failed[/]"

    def sweep_started(
        self, total: int, already_done: int, *, continuing: int = 0, retrying: int = 0
    ) -> None:
        self.task = self.progress.add_task(
            self.label, total=total, completed=already_done, stats=self._stats()
        )
        if already_done or continuing or retrying:
            self.progress.console.print(
                f"resuming: {already_done} of {total} sessions already finished (skipped), "
                f"{continuing} interrupted (continuing from their stored turns), "
                f"{retrying} failed (retrying)"
            )

    def session_finished(self, outcome: SessionOutcome) -> None:
        if outcome.status == SessionStatus.FAILED:
            self.fail += 1
        else:
            self.ok += 1
            if outcome.reward is not None and outcome.reward >= 1.0 - 1e-9:
                self.success += 1
        if self.task is not None:
            self.progress.update(self.task, advance=1, stats=self._stats())
