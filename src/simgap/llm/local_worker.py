"""The embedded model's own process: llama.cpp runs there, never in the process that drives a
sweep, the study app or the demo.

Why a process: llama.cpp is native code. A crash in it (a segmentation fault, a failed
`GGML_ASSERT` that aborts) kills whatever process it runs in, and before this module that
was the whole run (issue 9: `simgap demo` died with `Segmentation fault` on a fresh machine).
Here it kills one worker: the call in flight fails with a one-line `LLMWorkerCrash` naming the
signal, the session that made it is stored as failed (a rerun retries it), and the next call
starts a fresh worker. A generation that never returns (a native hang) is stopped after the
model config's `timeout_s` the same way.

The worker is a fresh interpreter (`python -c ...local_worker.main`), never a fork (a forked
copy of a loaded model hangs in llama.cpp's thread pool) and never multiprocessing's `spawn`
(which re-imports the caller's main script, so every user script would need a
`__main__` guard). It talks to its parent over a socket pair with multiprocessing's
`Connection`, serves one request at a time on its main thread (llama.cpp contexts are not
thread-safe), runs in its own session so a terminal's Ctrl-C reaches only the parent (which
stops its workers on close), and exits when the parent goes away (EOF on its socket).

Fault injection, for tests and for checking a deployment: when the environment variable
`SIMGAP_FAULT_LOCAL_SEGV` names a file that exists, the worker deletes it and then crashes in
native code (a read of address 0) on its next generation: exactly one real SIGSEGV per file.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
from multiprocessing.connection import Connection
from pathlib import Path

from simgap.llm.base import (
    ChatRequest,
    ChatResponse,
    LLMError,
    LLMRequestRejectedError,
    LLMResponseError,
    LLMUnavailableError,
)

FAULT_SEGV_ENV = "SIMGAP_FAULT_LOCAL_SEGV"
_START_TIMEOUT_S = 120.0  # a fresh interpreter imports llama.cpp and simgap, then loads the GGUF
_EXIT_WAIT_S = 10.0


class LLMWorkerCrash(LLMResponseError):
    """The embedded model's process died or hung during a call; only that call failed."""


def signal_name(code: int | None) -> str:
    """`-11` (subprocess's return code for a signal) -> `signal 11, SIGSEGV`."""
    if code is None:
        return "no exit code"
    if code < 0:
        try:
            return f"signal {-code}, {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit status {code}"


# -- the child ----------------------------------------------------------------------------------
def serve(conn: Connection, model: str, model_path: str, n_ctx: int, n_threads: int) -> None:
    """The worker's main loop: one request in, one answer out, until the parent hangs up."""
    # A failed GGML_ASSERT otherwise tries to attach gdb for a backtrace, which can hang.
    os.environ.setdefault("GGML_NO_BACKTRACE", "1")
    from simgap.llm.local_engine import LlamaEngine

    engine = LlamaEngine(model, Path(model_path), n_ctx=n_ctx, n_threads=n_threads)
    while True:
        try:
            op, payload = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            break
        if op == "close":
            break
        request = ChatRequest.model_validate(payload["request"])
        _maybe_crash()
        before = engine.dropped_messages
        try:
            resp = engine.generate(request, payload["seed"])
        except LLMError as e:
            kind = (
                "unavailable"
                if isinstance(e, LLMUnavailableError)
                else "rejected"
                if isinstance(e, LLMRequestRejectedError)
                else "response"
            )
            conn.send((kind, _cause(e, engine.endpoint), 0))
            continue
        except Exception as e:  # llama.cpp raised (not crashed): this call fails, not the worker
            conn.send(("response", f"{type(e).__name__}: {e}", 0))
            continue
        conn.send(("ok", resp.model_dump(mode="json"), engine.dropped_messages - before))
    engine.close()


def _cause(e: LLMError, endpoint: str) -> str:
    """The message of `e` without its `model X at Y: ` prefix (the parent adds it again)."""
    prefix = f"model {e.model} at {endpoint}: "
    text = str(e)
    return text[len(prefix) :] if text.startswith(prefix) else text


def _maybe_crash() -> None:
    marker = os.environ.get(FAULT_SEGV_ENV)
    if not marker:
        return
    try:
        os.remove(marker)
    except FileNotFoundError:
        return
    import ctypes

    ctypes.string_at(0)  # a real segmentation fault, in native code


# -- the parent ---------------------------------------------------------------------------------
class LocalWorker:
    """Parent-side handle of one worker process. `call` blocks: run it in a thread.

    Calls through one handle are serialised by its lock (one `Llama`, one request at a time).
    """

    def __init__(self, model: str, model_path: Path, *, n_ctx: int, n_threads: int) -> None:
        self.model = model
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._proc: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self._lock = threading.Lock()
        self.starts = 0  # processes started so far (a restart after a crash counts)

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def _start(self) -> Connection:
        mine, theirs = socket.socketpair()
        with mine, theirs:
            fd = theirs.fileno()
            args = [str(fd), self.model, str(self.model_path), str(self.n_ctx), str(self.n_threads)]
            self._proc = subprocess.Popen(
                [sys.executable, "-c", _WORKER_MAIN, *args],
                pass_fds=(fd,),
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            # `theirs` closes here, so the parent sees EOF the moment the worker dies.
            self._conn = Connection(mine.detach())
        self.starts += 1
        return self._conn

    def call(
        self, request: ChatRequest, seed: int | None, timeout_s: float
    ) -> tuple[ChatResponse, int]:
        """One generation in the worker: (answer, messages dropped to fit the context).
        A dead or hung worker raises `LLMWorkerCrash` and is replaced on the next call."""
        with self._lock:
            conn = self._conn if self._alive() else None
            if conn is None:
                self._reap()
                conn = self._start()
                timeout_s += _START_TIMEOUT_S
            try:
                conn.send(("generate", {"request": request.model_dump(mode="json"), "seed": seed}))
                if not conn.poll(timeout_s):
                    self._kill()
                    raise self._crash(f"gave no answer within {timeout_s:.0f} s and was stopped")
                kind, body, dropped = conn.recv()
            except (EOFError, OSError):
                code = self._reap()
                raise self._crash(f"died ({signal_name(code)}) while generating") from None
        if kind == "ok":
            return ChatResponse.model_validate(body), int(dropped)
        error: type[LLMError] = {
            "unavailable": LLMUnavailableError,
            "rejected": LLMRequestRejectedError,
        }.get(kind, LLMResponseError)
        raise error(self.model, str(body), endpoint=str(self.model_path))

    def _crash(self, what: str) -> LLMWorkerCrash:
        return LLMWorkerCrash(
            self.model,
            f"the embedded model's process {what}; this call failed, the next one starts a new "
            "process",
            endpoint=str(self.model_path),
        )

    def _alive(self) -> bool:
        return self._proc is not None and self._conn is not None and self._proc.poll() is None

    def _kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
        self._reap()

    def _reap(self) -> int | None:
        """Forget the current process (waiting for its end); its return code."""
        code = None
        if self._proc is not None:
            try:
                code = self._proc.wait(timeout=_EXIT_WAIT_S)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                code = self._proc.wait()
        if self._conn is not None:
            self._conn.close()
        self._proc, self._conn = None, None
        return code

    def close(self) -> None:
        """Ask the worker to exit (it frees the model), then make sure it did."""
        with self._lock:
            if self._conn is not None and self._alive():
                with contextlib.suppress(OSError):
                    self._conn.send(("close", None))
            self._reap()


def main(argv: list[str]) -> None:
    """The worker's entry point: `fd model model_path n_ctx n_threads`."""
    fd, model, model_path, n_ctx, n_threads = argv
    serve(Connection(int(fd)), model, model_path, int(n_ctx), int(n_threads))


# `-c`, not `-m`: this module is already imported by `simgap.llm`, and runpy warns about that.
_WORKER_MAIN = "import sys; from simgap.llm.local_worker import main; main(sys.argv[1:])"
