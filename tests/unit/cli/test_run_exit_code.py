"""The exit code of `reconciler run`: how it stopped, and how its last cycle went."""

from __future__ import annotations

from reconciler.cli.run_job import run_exit_code
from reconciler.engine.cycle import CycleResult
from reconciler.errors import ExitCode

FAILED = CycleResult("c00003", "retry", error="Marathon unreachable at http://127.0.0.1:1")
FINE = CycleResult("c00003", "resync")


def test_the_last_cycle_decides_after_max_cycles() -> None:
    assert run_exit_code(FAILED, signalled=False) == ExitCode.ERROR
    assert run_exit_code(FINE, signalled=False) == ExitCode.OK


def test_a_signal_is_the_normal_end_of_a_controller() -> None:
    assert run_exit_code(FAILED, signalled=True) == ExitCode.OK
    assert run_exit_code(None, signalled=True) == ExitCode.OK
