"""Benchmark: loading a spec tree of 1,000 and 5,000 apps (figures, not assertions).

Run with `.venv/bin/python -m tests.bench.bench_spec_load [APPS ...]` from the project root. For each
size it writes a tree (one environment file of inline apps, one of chart apps, and a functional set
over them) and prints, in seconds: `load_specs` cold (first read in the process), `load_specs`
again on the unchanged tree (cached), after one file changed, and `validate` end to end (load +
render of every environment, what `reconciler validate` does), as wall time and CPU time.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from reconciler.spec import load_desired, load_specs
from reconciler.spec.load import forget_loaded

CHART = {
    "charts/svc/Chart.yaml": "name: svc\nversion: 1.0.0\n",
    "charts/svc/values.yaml": "image: svc\ntag: '1.0'\nport: 8080\n",
    "charts/svc/templates/app.yaml": (
        'image: "{{ values.image }}:{{ values.tag }}"\ncpus: 0.1\nmem: 128\n'
        "ports: [{name: http, containerPort: {{ values.port }}}]\n"
    ),
}


def inline_app(index: int) -> str:
    return (
        f"  app-{index:05d}:\n"
        f"    image: registry.example/app-{index}:1.{index % 7}\n"
        "    cpus: 0.1\n    mem: 64\n    instances: 1\n"
        "    ports: [{name: http, containerPort: 8080}]\n"
        "    env: {MODE: bench, LEVEL: '3'}\n"
        "    healthChecks:\n      - {protocol: HTTP, path: /health, portIndex: 0, intervalSeconds: 10}\n"
        "    upgradeStrategy: {minimumHealthCapacity: 50%}\n"
    )


def chart_app(index: int) -> str:
    return f"  svc-{index:05d}:\n    chart: svc\n    values: {{tag: '2.{index % 9}'}}\n"


def write_charts(root: Path) -> None:
    """The chart the benchmark's trees render apps from, under `root`."""
    for relative, text in CHART.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def write_tree(root: Path, apps: int) -> Path:
    write_charts(root)
    specs = root / "specs"
    specs.mkdir()
    header = "apiVersion: reconciler/v1\nkind: Environment\n"
    inline = apps * 4 // 5
    (specs / "inline.yaml").write_text(
        header + "name: integration\napps:\n" + "".join(inline_app(n) for n in range(inline))
    )
    (specs / "charted.yaml").write_text(
        header + "name: staging\napps:\n" + "".join(chart_app(n) for n in range(apps - inline))
    )
    (specs / "functional.yaml").write_text(
        "apiVersion: reconciler/v1\nkind: FunctionalSet\nbase: integration\nsets:\n"
        "  func-1:\n    apps:\n      app-00001: {instances: 2}\n"
    )
    return specs


def seconds(action: Callable[[], object]) -> str:
    """Wall and CPU seconds of `action` (CPU time is the figure to trust on a shared machine)."""
    wall, cpu = time.perf_counter(), time.process_time()
    action()
    return f"{time.perf_counter() - wall:.3f} s ({time.process_time() - cpu:.3f} s CPU)"


def measure(apps: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        specs = write_tree(Path(folder), apps)
        forget_loaded()
        cold = seconds(lambda: load_specs(specs))
        cached = seconds(lambda: load_specs(specs))
        with (specs / "functional.yaml").open("a") as file:
            file.write("  func-2:\n    apps:\n      app-00002: {instances: 3}\n")
        changed = seconds(lambda: load_specs(specs))
        forget_loaded()
        validate = seconds(lambda: load_desired(specs))
        print(
            f"{apps:>6} apps: load cold {cold}, cached {cached}, one file changed {changed}; "
            f"validate (load + render, cold) {validate}"
        )


def main() -> None:
    for apps in [int(arg) for arg in sys.argv[1:]] or [1000, 5000]:
        measure(apps)


if __name__ == "__main__":
    main()
