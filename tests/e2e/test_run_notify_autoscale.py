"""`reconciler run --sandbox` notifies an autoscaled app held at its `max` while its metrics ask for
more (e2e: the real CLI in a subprocess, a real HTTP receiver on loopback, the load from the sandbox's
fault API read through the agents' `/monitor/statistics`): it fires once the app has been held there
for `--notify-at-max-for` (2 s here; the 30 s default is checked in tests/unit/cli/test_run_notify_flags.py
and tests/unit/core/test_alerts.py), and resolves once the load no longer asks for more than `max`."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.autoscale_support import shop_spec
from tests.e2e.test_run_gitops import eventually
from tests.e2e.test_run_notify import _async, _ready, controller, receiver

pytestmark = pytest.mark.slow
SPEC = shop_spec(low=1, high=2)
KEY = "autoscale-at-max:/shop/web"
HOLD = 2


@pytest.mark.timeout(300)
async def test_an_app_held_at_its_autoscale_max_is_notified_and_resolved(tmp_path: Path) -> None:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SPEC)
    async with (receiver() as hook, controller(tmp_path, hook.url, str(tmp_path / "specs"), "--resync", "0.5",
                                               "--no-leader-election", "--notify-at-max-for", str(HOLD)) as run,
                httpx.AsyncClient(timeout=10) as http):
        await eventually(lambda: _ready(http, run.server), "ready", 60)
        # 90% of the cpus against a 50% target: 1 -> 2 (max), where the metrics ask for ceil(2 x 1.8) = 4.
        loaded = await http.put(f"{run.marathon}/_sandbox/load", json={"app": "/shop/web", "cpu": 0.9, "mem": 20})
        assert loaded.status_code == 200, loaded.text
        await eventually(_async(lambda: hook.of(KEY)), "held at max, notified", 120)
        (firing,) = hook.of(KEY)
        assert firing["kind"] == "autoscale-at-max" and firing["severity"] == "warning", firing
        assert firing["summary"] == "/shop/web is held at its autoscale max (2); its metrics ask for 4", firing
        # Held for the flag's period, not the default's: the detail says how long it was seen at max.
        seen = re.match(r"seen for (\d+)s;", firing["detail"])
        assert seen and HOLD <= int(seen.group(1)) < 30, firing
        await http.put(f"{run.marathon}/_sandbox/load", json={"app": "/shop/web", "cpu": 0.5, "mem": 20})
        await eventually(_async(lambda: hook.of(KEY, "resolved")), "resolved once the load fell", 60)
        assert len(hook.of(KEY)) == 1
