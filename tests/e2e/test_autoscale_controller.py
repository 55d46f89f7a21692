"""Autoscaling through the controller, end to end in the simulated sandbox: the Controller runs the
Reconciler's cycles (as `reconciler run` does) with an Autoscaler reading every agent's
`/monitor/statistics` over real HTTP. Load comes from the fault API (`PUT /_sandbox/load`).

- a raised load scales up within one tick (the first cycle whose sampling window follows the change);
- a lowered load scales down only once the spec's scale-down stabilization window (5s) has passed;
- a flat load with +-8% noise around the target changes nothing over many ticks;
- a scale-down kills a task that is not healthy first (`POST /v2/tasks/delete?scale=true`).
"""

from __future__ import annotations

import re
import textwrap
import time
from pathlib import Path

import pytest

from reconciler.core.model import ActionKind
from tests.e2e.autoscale_support import APP, autoscaled_shop, controller
from tests.sandbox.marathon.fixtures import until

pytestmark = pytest.mark.slow

SPEC = autoscaled_shop("5s")
CHECKED = (
    "    healthChecks: [{protocol: COMMAND, command: 'true', gracePeriodSeconds: 0, intervalSeconds: 1,"
    " maxConsecutiveFailures: 0}]\n"
)


def test_the_app_is_the_one_docs_autoscaling_md_shows() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "autoscaling.md").read_text()
    section = doc.split("## In the controller", 1)[1]
    block = re.findall(r"```yaml\n(.*?)```", section, re.S)[0]
    assert textwrap.indent(block, "  ") in SPEC


@pytest.mark.timeout(300)  # two deployments and a 5-second window, on a loaded machine
async def test_load_scales_up_within_one_tick_and_down_only_after_the_window(tmp_path: Path) -> None:
    async with controller(tmp_path, SPEC) as running:
        mark = len(running.results)
        raised = time.time()
        await running.load(0.9)  # 90% of the cpus against 50%: ceil(2 x 1.8) = 4
        up = await until(lambda: [a for a in running.executed(mark) if a.kind == ActionKind.SCALE],
                         "a scale-up after the load rose", timeout=60)
        # Cycles that ended before it: at most one whose sampling window began before the change.
        decided = [s for s in running.scalings(mark) if s.at >= raised]
        before = [s for s in decided if s.desired == s.current]
        assert len(before) <= 1, [s.line() for s in decided]
        assert up[0].instances_from == 2 and up[0].instances_to in (3, 4), up[0].line()
        assert up[0].reason.startswith("autoscale: cpu above target: 2 -> "), up[0].reason

        # Every task keeps its 0.9 cores whatever the count (the fault API's load is per task): up to max.
        await until(lambda: running.settled_at(6), "the scale-up to max (6) done", timeout=90)
        mark = len(running.results)
        await running.load(0.1)  # 10% against 50%: the recommendation falls to min
        down = await until(lambda: [a for a in running.executed(mark) if a.kind == ActionKind.SCALE],
                           "a scale-down after the window", timeout=60)
        assert down[0].instances_from == 6 and down[0].instances_to is not None and down[0].instances_to < 6
        scalings = running.scalings(mark)
        scaled = next(s for s in scalings if s.desired < s.current)
        held = [s for s in scalings if s.at < scaled.at and s.limited_by == "stabilization"]
        assert held, [s.line() for s in scalings]  # low recommendations held by the window first
        # The window: no recommendation of the 5 seconds before the scale-down asked for more.
        recent = [s for s in running.scalings() if scaled.at - 5.0 < s.at <= scaled.at and s.recommendation]
        assert all((s.recommendation or 0) <= scaled.desired for s in recent), [s.line() for s in recent]


async def test_flat_noisy_load_changes_nothing_over_many_ticks(tmp_path: Path) -> None:
    async with controller(tmp_path, SPEC) as running:
        noise = [0.46, 0.54, 0.5, 0.47, 0.53, 0.49, 0.52, 0.48]  # +-8% around the 50% target
        profile = [{"after": round(i * 0.25, 2), "cpu": noise[i % len(noise)]} for i in range(100)]
        assert (await running.api.put("/_sandbox/load", json={"app": APP, "profile": profile})).status_code == 200
        mark = len(running.results)
        await until(lambda: len([s for s in running.scalings(mark) if s.decision and s.decision.proposals
                                 and s.decision.proposals[0].current is not None]) >= 8,
                    "eight ticks with a CPU reading", timeout=60)
        assert not [a for a in running.executed(mark) if a.kind in (ActionKind.SCALE, ActionKind.KILL_TASK)]
        assert all(s.desired == 2 for s in running.scalings(mark))
        # Each full reading is within the tolerance. A tick where one task's sample came late (a loaded
        # machine) keeps the count by the HPA's rule for missing tasks instead (a rescale that would
        # change direction is cancelled, limited by nothing), never by a rate limit or a bound.
        limits = [s.limited_by for s in running.scalings(mark) if s.recommendation is not None]
        assert set(limits) <= {"tolerance", None}, limits
        assert limits.count("tolerance") > len(limits) // 2, limits


async def test_scale_down_kills_a_task_that_is_not_healthy_first(tmp_path: Path) -> None:
    spec = SPEC.replace("      min: 2\n", "      min: 1\n")
    spec = spec.replace("    mem: 128\n", "    mem: 128\n    instances: 2\n" + CHECKED)
    async with controller(tmp_path, spec) as running:
        tasks = sorted(str(t["id"]) for t in await running.running_tasks())
        victim = tasks[-1]
        await running.sandbox.set_task_health(victim, False)
        mark = len(running.results)
        await running.load(0.3)  # 30% of the cpus (on the healthy task) against 50%: one task is enough
        kills = await until(lambda: [a for a in running.executed(mark) if a.kind == ActionKind.KILL_TASK],
                            "a scale-down by a kill", timeout=60)
        assert [k.target for k in kills] == [victim]
        assert kills[0].body == {"scale": True} and kills[0].reason.startswith("autoscale: not healthy")
        assert not [a for a in running.executed(mark) if a.kind == ActionKind.SCALE]
        await until(lambda: running.settled_at(1), "one task left", timeout=60)
        assert [t["id"] for t in await running.running_tasks()] == [tasks[0]]
