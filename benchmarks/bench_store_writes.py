"""Benchmark: CPU of the per-turn store write (`Store.append_turn`), against two baselines
measured in the same run.

Every turn of every session is committed on its own as it happens (so a crash loses at most
the turn in flight); on a 26-turn airline session that is 26 transactions, the largest share
of the harness's own CPU. Three ways to write the same turns, each into its own fresh SQLite
file (WAL, synchronous=NORMAL, as the store sets):

* `store`: `Store.append_turn` as shipped (statements built once, values as parameters);
* `inline`: the previous implementation, `insert(t.turns).values(**row)` and an `update(...)`
  built per turn with the values inlined, which SQLAlchemy must re-key for its compiled cache;
* `sqlite3`: the same two statements through the standard library's sqlite3 alone (no
  SQLAlchemy, no JSON column types): the floor a store on SQLAlchemy can approach.

Printed: µs of CPU per turn for each and the ratios inline ÷ store and store ÷ sqlite3.
The turns are shaped like the benchmark session's (benchmarks/bench_harness.py): agent
messages with a tool call and tool results of ~1 kB of JSON.

Run: `.venv/bin/python benchmarks/bench_store_writes.py [--turns 4000]`
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import insert, update

from simgap.models import Role, Session, ToolCall, Turn, UserKind
from simgap.store import Store
from simgap.store import tables as t
from simgap.store.store import _turn_row

TURNS_PER_SESSION = 26


def _turns(n: int) -> list[tuple[str, Turn]]:
    result = json.dumps({"reservation_id": "Z7GOZK", "flights": [{"n": i} for i in range(40)]})
    out = []
    for k in range(n):
        idx = k % TURNS_PER_SESSION
        sid = f"s{k // TURNS_PER_SESSION}"
        if idx % 2:
            turn = Turn(
                idx=idx,
                role=Role.AGENT,
                content=None,
                tool_calls=[
                    ToolCall(
                        id=f"c{idx}",
                        name="get_reservation_details",
                        arguments={"reservation_id": "Z7GOZK"},
                    )
                ],
            )
        else:
            turn = Turn(idx=idx, role=Role.TOOL, content=result, tool_call_id=f"c{idx - 1}")
        out.append((sid, turn))
    return out


def _store(path: Path, n_sessions: int) -> Store:
    st = Store(path)
    for i in range(n_sessions):
        st.start_session(
            Session(
                session_id=f"s{i}",
                task_id="19",
                domain="airline",
                user_kind=UserKind.SIMULATOR,
                user_id="bench",
            )
        )
    return st


def _cpu_per_turn(write: Callable[[str, Turn], None], turns: list[tuple[str, Turn]]) -> float:
    t0 = time.process_time()
    for sid, turn in turns:
        write(sid, turn)
    return 1e6 * (time.process_time() - t0) / len(turns)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=4000)
    a = ap.parse_args()
    turns = _turns(a.turns)
    n_sessions = a.turns // TURNS_PER_SESSION + 1
    tmp = Path(tempfile.mkdtemp(prefix="simgap-bench-store-"))

    shipped = _store(tmp / "store.db", n_sessions)

    old = _store(tmp / "inline.db", n_sessions)

    def inline(sid: str, turn: Turn) -> None:
        with old.engine.begin() as conn:
            conn.execute(insert(t.turns).values(**_turn_row(sid, turn)))
            conn.execute(
                update(t.sessions)
                .where(t.sessions.c.session_id == sid)
                .values(n_turns=turn.idx + 1)
            )

    raw = sqlite3.connect(tmp / "raw.db", isolation_level=None)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute(
        "CREATE TABLE turns (session_id, idx, role, content, tool_calls, tool_call_id, "
        "tool_error, requestor, timestamp, usage, meta, PRIMARY KEY (session_id, idx))"
    )
    raw.execute("CREATE TABLE sessions (session_id PRIMARY KEY, n_turns)")
    raw.executemany("INSERT INTO sessions VALUES (?, 0)", [(f"s{i}",) for i in range(n_sessions)])

    def plain(sid: str, turn: Turn) -> None:
        row = _turn_row(sid, turn)
        raw.execute("BEGIN")
        raw.execute(
            "INSERT INTO turns VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                sid,
                row["idx"],
                row["role"],
                row["content"],
                json.dumps(row["tool_calls"]),
                row["tool_call_id"],
                row["tool_error"],
                row["requestor"],
                row["timestamp"].isoformat(),
                json.dumps(row["usage"]),
                json.dumps(row["meta"]),
            ),
        )
        raw.execute("UPDATE sessions SET n_turns = ? WHERE session_id = ?", (row["idx"] + 1, sid))
        raw.execute("COMMIT")

    # interleaved rounds, so drift in the machine's load falls on all three alike
    parts = 4
    size = len(turns) // parts
    us: dict[str, list[float]] = {"store": [], "inline": [], "sqlite3": []}
    for r in range(parts):
        chunk = turns[r * size : (r + 1) * size]
        us["inline"].append(_cpu_per_turn(inline, chunk))
        us["store"].append(_cpu_per_turn(shipped.append_turn, chunk))
        us["sqlite3"].append(_cpu_per_turn(plain, chunk))
    mean = {k: sum(v) / len(v) for k, v in us.items()}
    assert shipped.count_turns() == old.count_turns() == parts * size
    print(f"{parts * size} turns ({TURNS_PER_SESSION} per session), CPU per committed turn:")
    print("| write | µs/turn |\n|---|---:|")
    for k in ("inline", "store", "sqlite3"):
        print(f"| {k} | {mean[k]:.0f} |")
    print(
        f"inline ÷ store = {mean['inline'] / mean['store']:.2f}×;  "
        f"store ÷ sqlite3 = {mean['store'] / mean['sqlite3']:.2f}×"
    )


if __name__ == "__main__":
    main()
