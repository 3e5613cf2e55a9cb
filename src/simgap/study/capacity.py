"""Capacity a study can state before it starts, and honest waits when it is reached.

The embedded model answers one reply at a time on the CPU (each already uses every core), so
with several people chatting their replies queue. Before this module the page said "typing…"
for however long that took (p95 239 s with 10 people on 2 cores), the first reply after a start
waited for the model to load (70–126 s) behind the same "typing…", and a generation that hit
its time limit ended the person's chat. Three pieces replace that:

- `ModelWarmup`: the embedded model is loaded when the server starts; its state (loading,
  ready, failed) is shown on the admin page and at `/healthz`, and a reply waiting for it says
  so.
- `ReplyQueue`: agent replies take turns in arrival order for a fixed number of slots (1 for
  the embedded model), so each waiting reply knows how many are ahead of it and roughly how long
  that takes (a running mean of reply times).
- `StartLine`: a per-study cap on chats at once. A person who presses "Start the chat" beyond it
  waits on a "you are next" page, in arrival order, until a chat ends; nobody sits in a chat
  whose replies will not come.

All of it is in memory (one server process serves a study): after a restart the line forms
again from the people whose pages are still open.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum


class ModelState(StrEnum):
    LOADING = "loading"
    READY = "ready"
    FAILED = "failed"


@dataclass(frozen=True)
class Readiness:
    """What `/healthz` and the admin page say about the agent's model."""

    state: ModelState
    load_s: float | None = None  # how long loading took (None: nothing to load, or not yet)
    error: str | None = None
    since_s: float = 0.0  # seconds in this state so far


class ModelWarmup:
    """Loads the model once, in the background, and remembers how that went."""

    def __init__(self, load: Callable[[], Awaitable[object]] | None, *, expect_s: float) -> None:
        self._load = load
        self.expect_s = expect_s  # a guess shown while loading, until the first load is timed
        self.state = ModelState.READY if load is None else ModelState.LOADING
        self.load_s: float | None = None
        self.error: str | None = None
        self._since = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Begin loading (once); returns at once."""
        if self._load is None or self._task is not None:
            return
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        assert self._load is not None
        t0 = time.monotonic()
        try:
            await self._load()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # the chat's own call will fail with the full cause
            self.state, self.error = ModelState.FAILED, (str(e).splitlines() or [""])[0][:300]
        else:
            self.state, self.load_s = ModelState.READY, time.monotonic() - t0
        self._since = time.monotonic()

    async def wait(self) -> None:
        """Until loading ended (ready or failed); at once when there is nothing to load."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def readiness(self) -> Readiness:
        return Readiness(self.state, self.load_s, self.error, time.monotonic() - self._since)

    async def aclose(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(BaseException):  # cancelled on purpose, at shutdown
                await self._task


@dataclass(frozen=True)
class QueueSpot:
    """Where one waiting reply is: `ahead` replies are written before it starts (0: it is
    being written), and a rough `eta_s` until it is done (None until a reply was timed)."""

    ahead: int
    eta_s: float | None


class ReplyQueue:
    """First come, first served slots for agent replies (None: unlimited, nobody waits).

    `join` takes a place at once (so the person's very next page already shows it), `turn`
    waits until the place has a slot, `release` gives the slot (or the place) back.
    """

    def __init__(self, slots: int | None) -> None:
        self.slots = slots
        self._busy: dict[str, float] = {}  # key -> when its reply started
        self._waiting: OrderedDict[str, asyncio.Future[None]] = OrderedDict()
        self.mean_s: float | None = None  # running mean of one reply's duration

    @property
    def in_progress(self) -> int:
        return len(self._busy)

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def join(self, key: str) -> None:
        """Take a place for `key`'s reply: a free slot, else the end of the line."""
        if key in self._busy or key in self._waiting:
            return
        if self.slots is None or (len(self._busy) < self.slots and not self._waiting):
            self._busy[key] = time.monotonic()
        else:
            self._waiting[key] = asyncio.get_running_loop().create_future()

    async def turn(self, key: str) -> None:
        """Until `key` (joined before) has a slot; its reply is timed from here."""
        fut = self._waiting.get(key)
        if fut is not None:
            await fut
        self._busy[key] = time.monotonic()

    def release(self, key: str, *, timed: bool = True) -> None:
        """`key`'s reply is done (or given up): its slot goes to the first in line."""
        fut = self._waiting.pop(key, None)
        if fut is not None:
            fut.cancel()
            return
        started = self._busy.pop(key, None)
        if started is not None and timed:
            took = time.monotonic() - started
            self.mean_s = took if self.mean_s is None else 0.7 * self.mean_s + 0.3 * took
        while self._waiting and (self.slots is None or len(self._busy) < self.slots):
            nxt, fut = self._waiting.popitem(last=False)
            self._busy[nxt] = time.monotonic()
            if not fut.done():
                fut.set_result(None)

    def spot(self, key: str) -> QueueSpot | None:
        """Where `key`'s reply is, or None when it is neither written nor waiting."""
        if key in self._busy:
            left = None if self.mean_s is None else max(0.0, self.mean_s - self._age(key))
            return QueueSpot(0, left)
        if key not in self._waiting:
            return None
        pos = list(self._waiting).index(key)
        ahead = pos + len(self._busy)
        slots = self.slots or 1
        eta = None if self.mean_s is None else self.mean_s * (pos // slots + 2)
        return QueueSpot(ahead, eta)

    def _age(self, key: str) -> float:
        return time.monotonic() - self._busy.get(key, time.monotonic())


class StartLine:
    """People waiting for a chat to start while the study is at its cap of chats at once.

    A place in line is kept while its page keeps asking (`seen`); one not seen for `keep_s`
    seconds (a closed tab) is dropped, so it cannot hold up the people behind it.
    """

    def __init__(self, cap: int | None, *, keep_s: float = 30.0) -> None:
        self.cap = cap
        self.keep_s = keep_s
        self._line: OrderedDict[int, float] = OrderedDict()  # assignment id -> last seen

    def __len__(self) -> int:
        self._prune()
        return len(self._line)

    def _prune(self) -> None:
        now = time.monotonic()
        for k in [k for k, seen in self._line.items() if now - seen > self.keep_s]:
            del self._line[k]

    def seen(self, assignment_id: int) -> None:
        """Join the line (at its end), or stay in it."""
        self._line[assignment_id] = time.monotonic()

    def leave(self, assignment_id: int) -> None:
        self._line.pop(assignment_id, None)

    def position(self, assignment_id: int, active: int) -> int:
        """0 when `assignment_id` may start now (with `active` chats running); else how many
        people start before it (1: it is next). Joins the line if it was not in it."""
        if self.cap is None:
            return 0
        self._prune()
        free = max(0, self.cap - active)
        if assignment_id not in self._line:
            if free > len(self._line):
                return 0  # a free place nobody is waiting for
            self.seen(assignment_id)
        else:
            self.seen(assignment_id)
        idx = list(self._line).index(assignment_id)
        return 0 if idx < free else idx - free + 1
