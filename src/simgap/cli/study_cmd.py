"""`simgap study`: the human study app (serve, init, export, hash-password, tokens)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from simgap.cli.common import console
from simgap.errors import ConfigError

if TYPE_CHECKING:
    from simgap.study.config import StudyConfig

study_app = typer.Typer(
    name="study",
    help="Human study: real people play the customer, then rate the conversation.",
    no_args_is_help=True,
)

DbOpt = Annotated[str, typer.Option("--db", help="Store: SQLite file or database URL.")]


def _participant_hint(cfg: StudyConfig, base: str) -> str:
    from simgap.study.config import AccessMode

    mode = cfg.access.mode
    if mode == AccessMode.OPEN:
        return f"{base}/start"
    if mode == AccessMode.CROWD:
        return f"{base}/start?{cfg.access.crowd_param}=<worker id>"
    return (
        f"{base}/start?token=<token>  "
        f"(make links on {base}/admin/participants or with `simgap study tokens`)"
    )


@study_app.command("serve")
def serve(
    config: Annotated[
        Path | None,
        typer.Option("--config", "-c", help="Study YAML (make one with `simgap study init`)."),
    ] = None,
    db: Annotated[
        str,
        typer.Option("--db", help="Store: SQLite file or database URL (as for `simgap run`)."),
    ] = "study.db",
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", "-p", help="Port to listen on.")] = 8000,
    demo: Annotated[
        bool,
        typer.Option("--demo", help="Built-in demo: 3 airline tasks, embedded agent, open access."),
    ] = False,
    public_url: Annotated[
        str | None,
        typer.Option("--public-url", help="How participants reach the app (printed links)."),
    ] = None,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the study: consent, briefing, live chat with the agent, questionnaire, code.

    One process serves hundreds of people (the agent's model is the bottleneck); sessions are
    stored turn by turn, so stopping and restarting the server loses nothing.

    Example (offline, no key; prints the participant and admin links):

        simgap study serve --demo

    A real study on PostgreSQL:

        export SIMGAP_ADMIN_PASSWORD=...

        simgap study serve -c study.yaml --db postgresql+psycopg://u@host/db --host 0.0.0.0
    """
    import uvicorn

    from simgap.store import Store
    from simgap.study.app import ADMIN_PASSWORD_ENV, create_app
    from simgap.study.config import demo_config, load_study_config
    from simgap.study.security import new_token

    if demo and config is not None:
        raise ConfigError("use either --demo or --config, not both")
    if config is None and not demo:
        raise ConfigError(
            "give a study config (--config study.yaml; make one with `simgap study init`) or --demo"
        )
    cfg = load_study_config(config) if config is not None else demo_config()
    if public_url:
        cfg = cfg.model_copy(update={"public_url": public_url})
    admin_password: str | None = None
    if demo and not os.environ.get(ADMIN_PASSWORD_ENV) and not cfg.admin_password_hash:
        admin_password = new_token(12)
    with console.status("loading τ²-bench tasks and the agent…"):
        store = Store(db)
        app = create_app(
            cfg,
            store,
            admin_password=admin_password,
            base_dir=config.parent if config is not None else None,
        )
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = (cfg.public_url or f"http://{shown_host}:{port}").rstrip("/")
    safe_db = store.engine.url.render_as_string(hide_password=True)
    console.print(
        f"study [bold]{cfg.name}[/]: {cfg.domain}, {len(app.state.study.tasks)} task(s) × "
        f"{cfg.people_per_task} people over {len(cfg.batches)} batch(es); "
        f"agent {cfg.agent.name} on {cfg.agent.model}; store {safe_db}",
        soft_wrap=True,
    )
    console.print(f"participants: {_participant_hint(cfg, base)}", soft_wrap=True, highlight=False)
    if admin_password or os.environ.get(ADMIN_PASSWORD_ENV) or cfg.admin_password_hash:
        console.print(f"admin:        {base}/admin", highlight=False)
        if admin_password:
            console.print(
                f"admin password (made for this demo run; set {ADMIN_PASSWORD_ENV} to choose "
                f"one): [bold]{admin_password}[/]",
                highlight=False,
                soft_wrap=True,
            )
    else:
        console.print(f"admin pages are off: set {ADMIN_PASSWORD_ENV} to turn them on")
    console.print("stop with Ctrl-C (nothing is lost; start again to continue)")
    # No access log: participant links carry tokens and crowd ids, which must not reach logs.
    # Keep-alive longer than a participant's pause between clicks (uvicorn's default is 5 s):
    # otherwise a browser reusing a connection the server is closing sees a reset.
    # No proxy headers: uvicorn would believe X-Forwarded-For from 127.0.0.1 and rewrite the
    # client address; the app reads it itself, only from the config's `trusted_proxies`.
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=log_level,
        access_log=False,
        timeout_keep_alive=75,
        proxy_headers=False,
    )


@study_app.command("init")
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the example config.")] = Path(
        "study.yaml"
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented example study config to edit.

    Example:

        simgap study init study.yaml && simgap study serve --config study.yaml
    """
    from simgap.study.config import EXAMPLE_CONFIG, load_study_config

    if path.exists() and not force:
        raise ConfigError(f"{path} exists (use --force to overwrite)")
    path.write_text(EXAMPLE_CONFIG.format(path=path), encoding="utf-8")
    load_study_config(path)  # the example must always be valid
    console.print(f"wrote {path}: edit it, then run `simgap study serve --config {path}`")


@study_app.command("export")
def export(
    out: Annotated[
        Path, typer.Option("--out", "-o", help="JSONL file to write (replaced atomically).")
    ],
    db: DbOpt = "study.db",
    name: Annotated[
        str | None, typer.Option("--study", help="Only this study (default: every study).")
    ] = None,
) -> None:
    """Export the study's sessions (every turn, tool calls included) and answers to JSONL.

    The file is what `simgap import` and `simgap score` read.

    Example:

        simgap study export --db study.db --out people.jsonl
    """
    from simgap.store import Store
    from simgap.study.export import export_study, study_names

    store = Store(db)
    if name is not None and name not in study_names(store):
        known = ", ".join(study_names(store)) or "none"
        raise ConfigError(f"no study {name!r} in {db} (studies: {known})")
    n = export_study(store, out, name)
    console.print(f"wrote {n} records to {out}")


@study_app.command("hash-password")
def hash_password_cmd(
    password: Annotated[
        str,
        typer.Option(
            "--password",
            prompt=True,
            hide_input=True,
            confirmation_prompt=True,
            help="The admin password (asked for when not given).",
        ),
    ],
) -> None:
    """Print the hash of an admin password, for `admin_password_hash` in the study config.

    Example:

        simgap study hash-password    # asks twice, prints scrypt$...
    """
    from simgap.study.security import hash_password

    typer.echo(hash_password(password))


@study_app.command("tokens")
def tokens(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="Study YAML with access.mode: token.")
    ],
    db: DbOpt = "study.db",
    n: Annotated[int, typer.Option("--n", "-n", help="How many one-person links.")] = 10,
    base_url: Annotated[
        str, typer.Option("--base-url", help="Where the app is served.")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Make one-person participant links (token access mode), printed one per line.

    Example:

        simgap study tokens -c study.yaml --db study.db -n 50 --base-url https://x.org > links.txt
    """
    from simgap.store import Store
    from simgap.study.config import AccessMode, load_study_config
    from simgap.study.participants import create_token_participants

    cfg = load_study_config(config)
    if cfg.access.mode != AccessMode.TOKEN:
        raise ConfigError(
            f"{config}: field access.mode: is {cfg.access.mode.value!r}; links need 'token'"
        )
    if not 1 <= n <= 100_000:
        raise ConfigError(f"--n must be between 1 and 100000, got {n}")
    base = (cfg.public_url or base_url).rstrip("/")
    for tok in create_token_participants(Store(db), cfg.name, n):
        typer.echo(f"{base}/start?token={tok}")


def register(app: typer.Typer) -> None:
    """Add `simgap study ...`."""
    app.add_typer(study_app, name="study")
