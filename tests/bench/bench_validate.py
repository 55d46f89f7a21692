"""Benchmark: `reconciler validate` as its own process, at N apps, inline and from one chart (figures,
not assertions).

    .venv/bin/python -m tests.bench.bench_validate --sizes 1000,5000,10000 --runs 3

"inline" is bench_scale's tree (its "validate (s)" row: one-task apps over 10 environment files);
"one chart" is N apps of one chart, each with one of 9 tags as its values (bench_spec_load's chart).
Each figure is the median of `--runs` processes: wall seconds, and the process's CPU seconds
(user + system, from getrusage of children), the figure to trust on a shared machine.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.bench_scale import PROJECT, write_specs
from tests.bench.bench_spec_load import chart_app, write_charts


def write_chart_tree(root: Path, apps: int) -> Path:
    write_charts(root)
    specs = root / "specs"
    specs.mkdir()
    header = "apiVersion: reconciler/v1\nkind: Environment\nname: staging\napps:\n"
    (specs / "charted.yaml").write_text(header + "".join(chart_app(n) for n in range(apps)))
    return specs


def one_run(specs: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m reconciler validate <specs>` process (it must exit 0)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "reconciler", "validate", str(specs)],
        cwd=PROJECT, capture_output=True, text=True, env=dict(os.environ, NO_COLOR="1"), check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"validate exited {done.returncode}: {done.stdout[-2000:]}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median_of(specs: Path, runs: int) -> str:
    timings = [one_run(specs) for _ in range(runs)]
    wall = statistics.median(t[0] for t in timings)
    cpu = statistics.median(t[1] for t in timings)
    return f"{wall:.2f} s ({cpu:.2f} s CPU)"


def arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default="1000,5000,10000")
    parser.add_argument("--runs", type=int, default=3)
    return parser.parse_args(argv)


def main() -> None:
    options = arguments(sys.argv[1:])
    print(f"load average at the start: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")
    for apps in (int(size) for size in options.sizes.split(",")):
        with tempfile.TemporaryDirectory() as folder:
            inline = write_specs(Path(folder) / "inline", apps)
            charted = write_chart_tree(Path(folder) / "chart", apps)
            print(f"{apps:>6} apps: inline {median_of(inline, options.runs)}, "
                  f"one chart {median_of(charted, options.runs)}", flush=True)
    print(f"load average at the end: {' '.join(f'{n:.2f}' for n in os.getloadavg())}")


if __name__ == "__main__":
    main()
