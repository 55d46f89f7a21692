"""Runs the real `reconciler` CLI in a subprocess while the sandbox serves on the test's loop (e2e)."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class CliResult:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


async def run_cli(
    *args: str, marathon: str, consul: str | None = None, timeout: float = 90.0, cwd: Path | None = None
) -> CliResult:
    """`python -m reconciler --marathon URL [--consul URL] ARGS...` without blocking the event loop.

    Without `consul`, commands that talk to Consul get `--no-consul`, so that whatever listens on
    the default Consul address of the machine cannot change what a Marathon-only test sees.
    """
    talks_to_consul = bool(args) and args[0] in ("plan", "apply", "run")
    if consul is not None:
        args = ("--consul", consul, *args)
    elif talks_to_consul and "--consul" not in args and "--no-consul" not in args:
        args = (args[0], "--no-consul", *args[1:])
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1", TERM="dumb")
    with tempfile.TemporaryDirectory(prefix="reconciler-cli-") as private:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "reconciler", "--marathon", marathon, *private_run(args, Path(private)),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=cwd or PROJECT, env=env,
        )
        try:
            stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise
    return CliResult(process.returncode or 0, stdout.decode(), stderr.decode())


def private_run(args: tuple[str, ...], private: Path) -> tuple[str, ...]:
    """`run` gets a free port and a history file of its own unless the test names them: its defaults
    (127.0.0.1:9090, a file in the home folder) are shared by everything on the machine."""
    if "run" not in args:
        return args
    at = args.index("run") + 1
    extra = [] if "--listen" in args else ["--listen", "127.0.0.1:0"]
    extra += [] if "--database" in args else ["--database", str(private / "history.db")]
    return (*args[:at], *extra, *args[at:])


def copy_example_tree(destination: Path) -> Path:
    """A private copy of specs/ and charts/ that a test may edit; returns the specs folder."""
    shutil.copytree(PROJECT / "specs", destination / "specs")
    shutil.copytree(PROJECT / "charts", destination / "charts")
    return destination / "specs"


async def stop_process(process: asyncio.subprocess.Process) -> None:
    """SIGTERM a CLI subprocess that is still running and reap it; SIGKILL it after 30 s."""
    if process.returncode is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.communicate(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()
