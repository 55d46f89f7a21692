"""How a `reconciler` process ends (cli layer): without the interpreter's teardown of every object.

After a command at 10,000 apps the process holds hundreds of MiB of small objects (the spec tree, the
observation, the plan), and CPython's finalisation freed them one by one: about a second of a four-second
`reconciler plan`. The operating system reclaims the memory at once. What the teardown does that matters
is kept: the atexit handlers run (logging's flush and close among them), and the standard streams are
flushed. While another thread that is not a daemon still runs, the process ends the ordinary way, which
waits for it.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import sys
import threading
from collections.abc import Callable
from typing import NoReturn


def exit_quickly(main: Callable[[], object]) -> NoReturn:
    """Runs `main` (which ends by raising SystemExit), then ends the process with its exit code."""
    try:
        main()
        code: object = 0
    except SystemExit as exc:
        code = exc.code
    if not isinstance(code, int) or _other_threads_running():
        raise SystemExit(code)  # a message to print, or a thread to wait for: the ordinary way
    atexit._run_exitfuncs()  # the handlers the interpreter's teardown would run
    os._exit(_flushed(code))


def _flushed(code: int) -> int:
    """`code` once stdout and stderr are flushed. A reader that went away (`| head`) changes nothing; any
    other failure to write the output (a full disk) is said and ends with 120, as CPython's teardown does."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            pass
        except (OSError, ValueError) as exc:
            with contextlib.suppress(OSError, ValueError):
                sys.__stderr__.write(f"error: the output could not be written: {exc}\n")  # type: ignore[union-attr]
                sys.__stderr__.flush()  # type: ignore[union-attr]
            code = code or 120
    return code


def _other_threads_running() -> bool:
    current = threading.current_thread()
    return any(t is not current and t.is_alive() and not t.daemon for t in threading.enumerate())
