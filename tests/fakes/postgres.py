"""A throwaway PostgreSQL server for tests (fixtures registered by tests/conftest.py).

- `pg_server` (session): Debian's PostgreSQL binaries started on 127.0.0.1 with a data folder in
  /tmp, stopped and removed at the end; yields a server URL without a database. Where
  PostgreSQL is not installed it skips, and under `CI=true` that skip fails the run
  (tests/conftest.py).
- `pg_store`: a `Store` on a fresh database of that server, dropped after the test.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from simgap.store import Store


def free_port() -> int:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def pg_server() -> Iterator[str]:
    """A throwaway PostgreSQL server on 127.0.0.1 (Debian's binaries; scripts/test.sh installs
    them). As root it runs as the `postgres` user. Yields a server URL without a database."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        pytest.skip("PostgreSQL is not installed (scripts/test.sh installs Debian's postgresql)")
    bindir = Path(found[-1]).parent
    base = Path(tempfile.mkdtemp(prefix="simgap-pg-", dir="/tmp"))
    base.chmod(0o755)
    prefix: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
        prefix = ["runuser", "-u", "postgres", "--"]
    data, sock, logf = base / "data", base / "sock", base / "log"
    port = free_port()
    run = lambda *a: subprocess.run([*prefix, *a], check=True, capture_output=True, timeout=120)  # noqa: E731
    run(
        str(bindir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=trust",
        "-E",
        "UTF8",
        "-N",
    )
    run("mkdir", "-p", str(sock))
    opts = (
        f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sock} "
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
    )
    run(
        str(bindir / "pg_ctl"),
        "-D",
        str(data),
        "-l",
        str(logf),
        "-o",
        opts,
        "-w",
        "-t",
        "60",
        "start",
    )
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}"
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def fresh_pg_store(pg_server: str) -> Iterator[Store]:
    """A `Store` on a new database of the server, dropped afterwards."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    dsn = pg_server.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    s = Store(f"{pg_server}/{name}")
    try:
        yield s
    finally:
        s.close()
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_store(pg_server: str) -> Iterator[Store]:
    """A fresh database on the throwaway server for one test."""
    with fresh_pg_store(pg_server) as s:
        yield s
