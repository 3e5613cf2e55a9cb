"""`simgap export` / `simgap import`: move sessions, feedback and annotations between stores
and files (simgap JSONL, τ²-bench results.json, the paper's released data)."""

from __future__ import annotations

from pathlib import Path

import typer

from simgap.cli.common import console, split_csv
from simgap.errors import ConfigError


def export(
    db: str = typer.Option("runs.db", "--db", help="Store: SQLite file or database URL."),
    out: Path = typer.Option(..., "--out", "-o", help="JSONL file to write (replaced atomically)."),
    user_kind: str = typer.Option(None, "--user-kind", help="human or simulator."),
    user: str = typer.Option(
        None, "--user", help="Comma-separated participant ids / simulator names."
    ),
    batch: str = typer.Option(None, "--batch", help="Comma-separated batch labels."),
    domain: str = typer.Option(None, "--domain", help="Only this domain."),
    fmt: str = typer.Option(
        "jsonl",
        "--format",
        "-f",
        help="jsonl (sessions, feedback, annotations) or tau2 (a τ²-bench results.json that "
        "τ²'s own loader reads; one domain, finished sessions).",
    ),
) -> None:
    """Export sessions (with turns), their feedback and annotations to simgap JSONL, or the
    sessions alone to a τ²-bench results.json.

    Examples:

        simgap export --db runs.db --user-kind human --out people.jsonl

        simgap export --db runs.db --domain airline --format tau2 --out results.json
    """
    from simgap.models import UserKind, write_jsonl
    from simgap.store import SessionFilter, Store

    try:
        kind = UserKind(user_kind) if user_kind else None
    except ValueError:
        raise ConfigError(f"--user-kind must be human or simulator, got {user_kind!r}") from None
    flt = SessionFilter(
        domain=domain,
        user_kind=kind,
        user_ids=split_csv(user) if user else (),
        batches=split_csv(batch) if batch else (),
    )
    if fmt not in ("jsonl", "tau2"):
        raise ConfigError(f"--format must be jsonl or tau2, got {fmt!r}")
    store = Store(db)
    try:
        if fmt == "tau2":
            from simgap.domains.tau2_export import write_tau2_results

            n, left_out = write_tau2_results(list(store.iter_sessions(flt)), out)
            console.print(
                f"wrote {n} simulations to {out} (τ²-bench results)"
                + (f"; {left_out} unfinished session(s) left out" if left_out else "")
            )
            return
        n = write_jsonl(out, store.export_records(flt))
    finally:
        store.close()
    console.print(f"wrote {n} records to {out}")


def import_(
    path: Path = typer.Argument(..., help="File to import."),
    db: str = typer.Option("runs.db", "--db", help="Store: SQLite file or database URL."),
    fmt: str = typer.Option(
        "auto", "--format", "-f", help="auto, jsonl, tau2 (results.json), tau-usi."
    ),
    replace: bool = typer.Option(False, "--replace", help="Replace sessions that already exist."),
) -> None:
    """Import a file into the store, all or nothing (a bad line names itself; nothing lands).

    Examples:

        simgap import people.jsonl --db runs.db

        simgap import results.json --format tau2 --db runs.db
    """
    from simgap.store import Store
    from simgap.store.importers import read_any

    records = read_any(path, fmt)
    counts = Store(db).import_records(records, replace=replace)
    console.print(
        f"imported {counts['sessions']} sessions, {counts['feedback']} feedback, "
        f"{counts['annotations']} annotations from {path}"
        + (f" ({counts['skipped']} already stored, skipped)" if counts["skipped"] else "")
        + (
            f" ({counts['duplicates']} repeated session id(s) in the file, identical copies, "
            "stored once)"
            if counts.get("duplicates")
            else ""
        )
    )


def register(app: typer.Typer) -> None:
    """Add `simgap export` and `simgap import`."""
    app.command("export")(export)
    app.command("import")(import_)
