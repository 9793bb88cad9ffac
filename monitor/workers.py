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
"""

from __future__ import annotations

import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.context import SpawnContext, SpawnProcess

PARENT_CHECK = 0.5  # seconds between two checks that the parent is alive


def process_pool(processes: int) -> ProcessPoolExecutor:
    """A pool of `processes` spawned workers that ignore SIGINT and die with their parent."""
    # "spawn": the service has threads (scheduler, fetch loop); forking them is unsafe.
    return ProcessPoolExecutor(processes, mp_context=_QuietSpawn(), initializer=_init_worker,
                               initargs=(os.getpid(),))


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


def _init_worker(parent: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    threading.Thread(target=_watch_parent, args=(parent,), name="parent-watch", daemon=True).start()


def _watch_parent(parent: int) -> None:
    stop = threading.Event()
    while not stop.wait(PARENT_CHECK):
        if os.getppid() != parent:
            os._exit(0)

