"""`reconciler run`'s store reads and writes run beside its event loop, never on it: while one of them
waits on the database (a SQLite file `approve` holds locked, PostgreSQL far away), the controller keeps
serving /healthz and /status and its leader keeps beating (a leader whose beats starve fences its own
writes: engine/leader.py). The interleaving is made, not timed: the held store call waits until the
test, on the loop, has seen the server answer and a beat land in Consul, and then lets it go on. Held:
the pins' read (cli/run.py, the cycle's in-force hook) and the cycle's history write (engine/reporting.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.cli.run_job import RunJob, Serving
from reconciler.cli.run_leader import LeaderSettings
from reconciler.cli.run_source import build_source
from reconciler.cli.settings import GlobalSettings
from reconciler.consul.client import ConsulClient
from reconciler.engine.controller import ControllerOptions
from reconciler.engine.cycle import CycleOptions
from reconciler.errors import ExitCode
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.store import Store
from tests.sandbox.marathon.fixtures import fast_config, until

pytestmark = pytest.mark.slow

KEY = "service/marathon-reconciler/leader"
TTL = 10.0  # Consul's pace (a beat every 1.7 s): room on a loaded machine
# How long the held call waits for the test: only a store call on the event loop ever waits this out.
HOLD_DEADLINE_S = 30.0
SPEC = ("apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n"
        "  web: {cmd: serve, instances: 1, cpus: 0.01, mem: 8}\n")


class HeldStore(Store):
    """A store whose first call of method `held` waits for `release`, set from the loop's side."""

    def hold(self, method: str) -> None:
        self.held = method
        self.entered, self.release = threading.Event(), threading.Event()
        self.loop_thread = threading.get_ident()
        self.called_from: int | None = None
        self.waited_out = False

    def _wait(self, method: str) -> None:
        if method == self.held and not self.entered.is_set():
            self.called_from = threading.get_ident()
            self.entered.set()
            self.waited_out = not self.release.wait(HOLD_DEADLINE_S)

    def last_env_event(self, *args: Any, **kwargs: Any) -> Any:
        self._wait("last_env_event")
        return super().last_env_event(*args, **kwargs)

    def record_executed(self, *args: Any, **kwargs: Any) -> Any:
        self._wait("record_executed")
        return super().record_executed(*args, **kwargs)


def controller(specs: Path, store: Store) -> RunJob:
    """`reconciler run SPECS --leader-ttl 10 --cycles 1 --listen 127.0.0.1:0`, on `store`."""
    source = build_source(specs, None, branch=None, path=None, token_env=None, token_file=None, cache=None)
    serving = Serving(source, 60.0, ("127.0.0.1", 0), None, None, None, LeaderSettings(key=KEY, ttl=TTL))
    return RunJob(serving, None, CycleOptions(), ControllerOptions(max_cycles=1), use_consul=True,
                   watch_wait="5s", open_store=lambda _: store)


async def lock_index(consul: ConsulClient) -> tuple[int, str]:
    """The lock key's ModifyIndex (every beat of the leader moves it) and the server its holder runs."""
    pair, _ = await consul.get_kv(KEY)
    if pair is None or not pair.session or pair.value is None:
        return 0, ""
    holder = str(json.loads(pair.value)["holder"])  # "<host>:<port> pid <pid>"
    return pair.modify_index, f"http://127.0.0.1:{holder.split(' ', maxsplit=1)[0].rsplit(':', 1)[1]}"


@pytest.mark.parametrize("held", ["last_env_event", "record_executed"])
async def test_the_controller_serves_and_beats_while_a_store_call_waits_on_the_database(
    tmp_path: Path, held: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "shop.yaml").write_text(SPEC)
    store = HeldStore.open(tmp_path / "history.db")
    store.hold(held)
    config = SandboxConfig(marathon=fast_config(), consul=ConsulSandboxConfig(session_time_scale=1.0))
    async with Sandbox(config) as sandbox, ConsulClient(str(sandbox.consul_url)) as consul, \
            httpx.AsyncClient(timeout=10) as http:
        settings = GlobalSettings(marathon_url=sandbox.marathon_url, consul_url=str(sandbox.consul_url))
        running = asyncio.create_task(controller(tmp_path, store).run(settings, sandbox=False))
        try:
            await until(store.entered.is_set, f"the controller at its first {held}", 60)
            assert not store.waited_out, f"{held} held the event loop until its wait gave up"
            index, server = await lock_index(consul)
            assert index and server, "the controller leads before it cycles"
            assert (await http.get(f"{server}/healthz")).status_code == 200
            assert (await http.get(f"{server}/status")).json()["leadership"]["leader"] is True
            await until(lambda: _moved(consul, index), "a beat of the leader while the store call waits", 20)
            assert not store.release.is_set() and not store.waited_out and store.called_from != store.loop_thread
        finally:
            store.release.set()
            code = await asyncio.wait_for(running, 60)
            store.close()
    assert code == ExitCode.OK
    reread = Store.open(tmp_path / "history.db")
    with contextlib.closing(reread):
        [plan] = reread.plans_still("shop", "applied")
        actions = [(a.kind, a.app, a.outcome) for a in reread.actions_of(plan.id)]
        assert actions == [("create", "/shop/web", "succeeded"), ("query-create", "web.shop", "succeeded")]
    assert "controller stopped after 1 cycle(s)" in capsys.readouterr().out


async def _moved(consul: ConsulClient, index: int) -> bool:
    return (await lock_index(consul))[0] > index
