"""`reconciler run` opens its store (the schema migrations) and closes it on the event loop, and may: nothing
the loop serves is up meanwhile. At the open, the HTTP server does not listen yet and this controller holds
no leader lock (so it beats nothing); at the close, the server has stopped and the lock is released. The
same witness during the cycle's history write sees both up, so it can tell. A slow migration (a large
history, or another replica migrating first under the migration lock) delays the start, and never stalls
/healthz or a leader's beats.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.run_job import RunJob, Serving
from reconciler.cli.run_leader import LeaderSettings
from reconciler.cli.run_source import build_source
from reconciler.cli.settings import GlobalSettings
from reconciler.engine.controller import ControllerOptions
from reconciler.engine.cycle import CycleOptions
from reconciler.errors import ExitCode
from reconciler.sandbox.consul import ConsulSandboxConfig
from reconciler.sandbox.consul.server import ConsulSandbox
from reconciler.sandbox.stack import Sandbox, SandboxConfig
from reconciler.store import Store
from tests.sandbox.marathon.fixtures import fast_config

pytestmark = pytest.mark.slow

KEY = "service/marathon-reconciler/leader"
SPEC = ("apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n"
        "  web: {cmd: serve, instances: 1, cpus: 0.01, mem: 8}\n")
RUN_DEADLINE_S = 120.0


class Witness:
    """What serves at a moment: whether the controller's HTTP port accepts a connection (the kernel accepts
    it for a listening socket even while the loop is busy), and whether a session holds the leader lock."""

    def __init__(self, port: int, consul: ConsulSandbox) -> None:
        self.port, self.consul = port, consul
        self.seen: dict[str, tuple[bool, bool]] = {}

    def look(self, moment: str) -> None:
        if moment in self.seen:
            return
        entry = self.consul.state.kv.entries.get(KEY)
        self.seen[moment] = (self._accepts(), bool(entry is not None and entry.session))

    def _accepts(self) -> bool:
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=5).close()
        except OSError:
            return False
        return True


class WitnessedStore(Store):
    witness: Witness

    def record_executed(self, *args: Any, **kwargs: Any) -> Any:
        self.witness.look("cycle")  # the cycle's history, written in a worker thread
        return super().record_executed(*args, **kwargs)

    def close(self) -> None:
        self.witness.look("close")
        super().close()


def free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def controller(specs: Path, port: int, open_store: Any) -> RunJob:
    """`reconciler run SPECS --leader-ttl 10 --cycles 1 --listen 127.0.0.1:PORT`."""
    source = build_source(specs, None, branch=None, path=None, token_env=None, token_file=None, cache=None)
    serving = Serving(source, 60.0, ("127.0.0.1", port), None, None, None, LeaderSettings(key=KEY, ttl=10.0))
    return RunJob(serving, None, CycleOptions(), ControllerOptions(max_cycles=1), use_consul=True,
                   watch_wait="5s", open_store=open_store)


async def test_nothing_serves_while_run_opens_and_closes_its_store(tmp_path: Path) -> None:
    (tmp_path / "shop.yaml").write_text(SPEC)
    config = SandboxConfig(marathon=fast_config(), consul=ConsulSandboxConfig(session_time_scale=1.0))
    async with Sandbox(config) as sandbox:
        assert sandbox.consul is not None
        port = free_port()
        witness = Witness(port, sandbox.consul)

        def open_store(_: str | None) -> Store:
            witness.look("open")
            store = WitnessedStore.open(tmp_path / "history.db")
            store.witness = witness
            return store

        settings = GlobalSettings(marathon_url=sandbox.marathon_url, consul_url=str(sandbox.consul_url))
        code = await asyncio.wait_for(controller(tmp_path, port, open_store).run(settings, sandbox=False),
                                      RUN_DEADLINE_S)
    assert code == ExitCode.OK
    # (the HTTP port accepts, the leader lock is held)
    assert witness.seen == {"open": (False, False), "cycle": (True, True), "close": (False, False)}
