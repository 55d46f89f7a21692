"""A CPU-time watchdog for template rendering (spec layer).

Python cannot stop a thread from outside, but it can raise an exception into one: when the rendering
thread has used its CPU budget, a watcher thread raises `exception` into it (PyThreadState_SetAsyncExc),
which ends any Python loop a template runs, at its next bytecode. The in-template checks (templating.py)
catch the usual cases first and precisely; this is the backstop for loops that call nothing.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from types import TracebackType

_POLL = 0.05  # seconds between looks at the rendering thread's CPU clock
_REPEAT = 0.5  # seconds before raising again into a thread that swallowed the first exception


def _thread_clock(ident: int) -> Callable[[], float]:
    """The CPU clock of thread `ident` (wall-clock time where the platform has no per-thread clock)."""
    try:
        clock = time.pthread_getcpuclockid(ident)
    except (AttributeError, OSError):
        return time.monotonic
    return lambda: time.clock_gettime(clock)


class CpuWatchdog:
    """`with CpuWatchdog(seconds, exception):` raises `exception` into this thread once the block
    has used `seconds` of its CPU time; leaving the block disarms it (and drops a pending raise)."""

    def __init__(self, seconds: float, exception: type[BaseException]) -> None:
        self._seconds = seconds
        self._exception = exception
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._armed = False
        self._ident = 0
        self._watcher: threading.Thread | None = None

    def __enter__(self) -> CpuWatchdog:
        self._ident = threading.get_ident()
        clock = _thread_clock(self._ident)
        deadline = clock() + self._seconds
        self._armed = True
        self._watcher = threading.Thread(target=self._watch, args=(clock, deadline), name="template-watchdog")
        self._watcher.daemon = True
        self._watcher.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        with self._lock:
            self._armed = False
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._ident), None)
        self._done.set()
        if self._watcher is not None:
            self._watcher.join()

    def _watch(self, clock: Callable[[], float], deadline: float) -> None:
        while not self._done.wait(_POLL):
            if clock() <= deadline:
                continue
            with self._lock:
                if not self._armed:
                    return
                exception = ctypes.py_object(self._exception)
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(self._ident), exception)
            deadline = clock() + _REPEAT
