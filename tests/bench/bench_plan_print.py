"""Benchmark: printing a plan of N apps into a file, as text and as JSON (figures, not assertions).

    .venv/bin/python -m tests.bench.bench_plan_print --apps 10000 --runs 3

Each app has an update with two changed fields and one Consul registration, over 10 environments;
the plan goes through `show_plan` as `reconciler plan` prints it, stdout redirected to a temporary
file. Prints the median wall seconds of `--runs` and the load average before and after.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
import time

from reconciler.cli.output import use_json_output
from reconciler.cli.plan_view import Compared, show_plan
from reconciler.core.model import Action, ActionKind, FieldChange, Plan


def plan_of(apps: int) -> Plan:
    actions = []
    for index in range(apps):
        env, target = f"env-{index % 10}", f"/env-{index % 10}/app-{index}"
        body = {"id": target, "cmd": "serve", "instances": 1, "cpus": 0.25, "mem": 128.0,
                "portDefinitions": [{"port": 0, "name": "http", "protocol": "tcp"}]}
        changes = (FieldChange("/cmd", "serve --old", "serve"), FieldChange("/mem", 256.0, 128.0))
        actions.append(Action(ActionKind.UPDATE, target, "definition differs", env=env, body=body, changes=changes))
        actions.append(Action(ActionKind.REGISTER, f"app-{index}.1", "running without a registration", env=env,
                              body={"Name": f"app-{index}"}))
    return Plan(tuple(sorted(actions, key=lambda action: action.env)))


def printing_seconds(plan: Plan, output: str) -> float:
    use_json_output(output == "json")
    with tempfile.TemporaryFile("w+") as sink, contextlib.redirect_stdout(sink):
        started = time.perf_counter()
        show_plan(plan, output=output, compared=Compared())
        sys.stdout.flush()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--apps", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("load average at the start: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))
    plan = plan_of(args.apps)
    for output in ("text", "json"):
        median = statistics.median(printing_seconds(plan, output) for _ in range(args.runs))
        print(f"  {args.apps} apps, -o {output}: {median:.2f} s")
    print("load average at the end: " + " ".join(f"{load:.2f}" for load in os.getloadavg()))


if __name__ == "__main__":
    main()
