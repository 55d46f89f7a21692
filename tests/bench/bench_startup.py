"""Benchmark: how long a `reconciler` process takes to start and end, for commands that do little else
(figures, not assertions).

    .venv/bin/python -m tests.bench.bench_startup --runs 15
    .venv/bin/python -m tests.bench.bench_startup --runs 15 --project /tmp/other-checkout

Each row is the median of `--runs` processes of `python -m reconciler ...` run from `--project` (by
default this checkout; another one, such as an export of an older commit, gives the figures to compare
with: `python -m` imports the package of its working directory): wall seconds, and the process's CPU
seconds (user + system, from getrusage of children), the figure to trust on a shared machine. Every
command must exit 0. `validate specs` reads the example tree of that checkout.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
COMMANDS = (("--help",), ("validate", "specs"), ("plan", "--help"), ("run", "--help"), ("status", "--help"))


def one_run(project: Path, args: tuple[str, ...]) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m reconciler ARGS` process (it must exit 0)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", *args],
        cwd=project, capture_output=True, text=True, env=dict(os.environ, NO_COLOR="1"), check=False, timeout=120,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"reconciler {' '.join(args)} exited {done.returncode}: {done.stderr[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(project: Path, args: tuple[str, ...], runs: int) -> tuple[float, float]:
    timings = [one_run(project, args) for _ in range(runs)]
    return statistics.median(t[0] for t in timings), statistics.median(t[1] for t in timings)


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=11)
    parser.add_argument("--project", type=Path, default=PROJECT, help="the checkout whose package is run")
    return parser.parse_args(argv)


def main() -> None:
    options = arguments(sys.argv[1:])
    print(f"load average at the start: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    print(f"{'command':<28} {'wall (s)':>9} {'CPU (s)':>8}   (median of {options.runs})")
    for args in COMMANDS:
        wall, cpu = median_of(options.project, args, options.runs)
        print(f"{'reconciler ' + ' '.join(args):<28} {wall:>9.2f} {cpu:>8.2f}", flush=True)
    print(f"load average at the end: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
