"""A PostgreSQL cluster of one test's own (e2e support): initdb in a temp dir, its own loopback port, Debian's
binaries as scripts/ensure-postgres finds them. A test may stop and start it under a running controller; the
shared server scripts/ensure-postgres started is never touched. As root, the cluster runs as `postgres`
(initdb and postgres refuse root), as that script does."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_START_S = 60  # pg_ctl's own wait for the server to answer (-t)


def postgres_bin() -> Path | None:
    """The newest /usr/lib/postgresql/*/bin holding initdb (scripts/ensure-postgres's pg_bin)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parent.parent.name)
                   if p.parent.parent.name.isdigit() else 0)
    return found[-1].parent if found else None


def _free_port() -> int:
    with contextlib.closing(socket.socket()) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateCluster:
    """One cluster: `url` while it runs; `stop()` (fast: open sessions are ended, as in a restart) and
    `start()`."""

    def __init__(self, bin_dir: Path, base: Path) -> None:
        self._bin, self._base, self.port = bin_dir, base, _free_port()
        self.url = f"postgresql+psycopg://reconciler@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 120) -> None:
        command = [str(self._bin / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            log = self._base / "server.log"
            raise AssertionError(f"{tool} {' '.join(args)} failed ({done.returncode}): {done.stderr}"
                                 + (log.read_text()[-2000:] if log.is_file() else ""))

    def init(self) -> None:
        self._run("initdb", "-D", str(self._base / "data"), "-U", "reconciler", "--auth=trust", "-E", "UTF8")

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self._base} -F"
        self._run("pg_ctl", "-D", str(self._base / "data"), "-l", str(self._base / "server.log"), "-o", options,
                  "-w", "-t", str(_START_S), "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self._base / "data"), "-m", mode, "-w", "-t", str(_START_S), "stop")

    def running(self) -> bool:
        command = [str(self._bin / "pg_ctl"), "-D", str(self._base / "data"), "status"]
        if os.geteuid() == 0:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, capture_output=True, timeout=60, check=False).returncode == 0


@contextlib.contextmanager
def private_cluster() -> Iterator[PrivateCluster]:
    """A running cluster of this test's own, stopped and removed afterwards."""
    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL binaries in /usr/lib/postgresql: run scripts/ensure-postgres (it installs them)")
    base = Path(tempfile.mkdtemp(prefix="reconciler-private-pg-", dir=os.environ.get("TMPDIR", "/tmp")))
    base.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    cluster = PrivateCluster(bin_dir, base)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        with contextlib.suppress(AssertionError, subprocess.TimeoutExpired):
            if cluster.running():
                cluster.stop("immediate")
        shutil.rmtree(base, ignore_errors=True)
