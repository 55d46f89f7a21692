"""A CPU-time watchdog for template rendering (spec layer).

Python cannot stop a thread from outside, but it can raise an exception into one: when a rendering
thread has used its CPU budget, one shared watcher thread raises the given exception into it
(PyThreadState_SetAsyncExc), which ends any Python loop a template runs, at its next bytecode. The
in-template checks (templating.py) catch the usual cases first and precisely; this is the backstop for
loops that call nothing.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

_POLL = 0.05  # seconds between looks at the rendering threads' CPU clocks
_REPEAT = 0.5  # seconds before raising again into a thread that swallowed the first exception


def _thread_clock(ident: int) -> Callable[[], float]:
    """The CPU clock of thread `ident` (wall-clock time where the platform has no per-thread clock)."""
    try:
        clock = time.pthread_getcpuclockid(ident)
    except (AttributeError, OSError):
        return time.monotonic
    return lambda: time.clock_gettime(clock)


def _raise_into(ident: int, exception: type[BaseException] | None) -> None:
    """Raise `exception` into thread `ident` at its next bytecode (None: drop a pending one)."""
    target = ctypes.py_object(exception) if exception is not None else None
    ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), target)


@dataclass
class _Armed:
    clock: Callable[[], float]
    deadline: float
    exception: type[BaseException]


class _Watcher:
    """The one watcher thread, started on first use; it sleeps while no rendering is armed."""

    def __init__(self) -> None:
        self.lock = threading.Condition()
        self.armed: dict[int, _Armed] = {}
        self._thread: threading.Thread | None = None
        self._idle = False  # the watcher waits for a notify (nothing was armed when it last looked)

    def arm(self, ident: int, armed: _Armed) -> None:
        with self.lock:
            self.armed[ident] = armed
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="template-watchdog", daemon=True)
                self._thread.start()
            elif self._idle:
                # Only an idle watcher is woken: one that polls finds the new arming by itself, and
                # waking a thread for every template rendered (thousands a load) cost more than the
                # renderings.
                self.lock.notify()

    def disarm(self, ident: int) -> None:
        with self.lock:
            self.armed.pop(ident, None)
            _raise_into(ident, None)  # a raise that has not landed yet must not land outside the block

    def _watch(self) -> None:
        while True:
            with self.lock:
                while not self.armed:
                    self._idle = True
                    self.lock.wait()
                self._idle = False
                for ident, armed in self.armed.items():
                    if armed.clock() > armed.deadline:
                        _raise_into(ident, armed.exception)
                        armed.deadline = armed.clock() + _REPEAT
            time.sleep(_POLL)


_WATCHER = _Watcher()


class CpuWatchdog:
    """`with CpuWatchdog(seconds, exception):` raises `exception` into this thread once the block
    has used `seconds` of its CPU time; leaving the block disarms it (and drops a pending raise)."""

    def __init__(self, seconds: float, exception: type[BaseException]) -> None:
        self._seconds = seconds
        self._exception = exception
        self._ident = 0

    def __enter__(self) -> CpuWatchdog:
        self._ident = threading.get_ident()
        clock = _thread_clock(self._ident)
        _WATCHER.arm(self._ident, _Armed(clock, clock() + self._seconds, self._exception))
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        _WATCHER.disarm(self._ident)
