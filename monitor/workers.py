"""The parse processes: a process pool whose workers belong to the process that started them.

- Ctrl-C in a terminal sends SIGINT to the whole process group, parse workers included. A
  worker ignores SIGINT (the parent decides when to stop and shuts the pool down), so Ctrl-C
  prints no KeyboardInterrupt traceback from a worker. SIGINT is blocked in the spawning thread
  while a worker starts (the mask is inherited across fork and exec), so a Ctrl-C during a
  worker's start-up is not delivered either; the worker then ignores it and unblocks it.
- A worker exits when its parent dies, even by SIGKILL (which runs no clean-up): a daemon
  thread in each worker checks every PARENT_CHECK seconds that its parent is still the process
  that started it (`os.getppid()`; on parent death the kernel reparents it), and exits at once
  if not. Linux's PR_SET_PDEATHSIG is not used: it fires when the *thread* that spawned the
  worker ends, not the process, and workers are spawned from whichever thread first submits.
- A worker's address space is capped (RLIMIT_AS, Linux and macOS) at `memory` bytes: feedparser
  needs up to ~10x a document's size (a 9 MB description: 110 MB), so a hostile document that
  would need more fails alone with a MemoryError, reported as that feed's `parser_failed`, and
  the worker lives on. After a large document (models.LARGE_BODY bytes or more; the pipeline hands a worker
  one such at a time), `parse` hands the freed memory back to the system (glibc's malloc_trim),
  so an idle worker holds ~30 MB, not its peak. The pool starts when a poll first has a body
  to parse, never for a pass of 304s.
"""

from __future__ import annotations

import gc
import os
import resource
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import SpawnContext, SpawnProcess

from . import parse as parse_mod
from .models import LARGE_BODY

PARENT_CHECK = 0.5  # seconds between two checks that the parent is alive


def process_pool(processes: int, memory: int | None = None) -> ProcessPoolExecutor:
    """A pool of `processes` spawned workers that ignore SIGINT, die with their parent and may
    use at most `memory` bytes of address space each (None: no cap)."""
    # "spawn": the service has threads (scheduler, fetch loop); forking them is unsafe.
    return ProcessPoolExecutor(processes, mp_context=_QuietSpawn(), initializer=_init_worker,
                               initargs=(os.getpid(), memory))


def parse(*args: object) -> tuple[object, list]:
    """parse.parse_new in a worker: (its result or FeedError, the warnings it logged)."""
    try:
        return parse_mod.parse_in_worker(*args)
    finally:
        if len(args[1]) >= LARGE_BODY:  # type: ignore[arg-type]
            del args
            gc.collect()
            _trim()


class _QuietProcess(SpawnProcess):
    def start(self) -> None:
        if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not POSIX
            super().start()
            return
        old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)


class _QuietSpawn(SpawnContext):
    Process = _QuietProcess


def _init_worker(parent: int, memory: int | None) -> None:
    if memory is not None:
        _cap_memory(memory)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    stop = threading.Event()
    while not stop.wait(PARENT_CHECK):
        if os.getppid() != parent:
            os._exit(0)



def _cap_memory(limit: int) -> None:
    """Cap this process's address space at `limit` bytes (never above a hard limit already set)."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ValueError, OSError, AttributeError):  # a platform without it: no cap, as before
        pass


def _trim() -> None:
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
