"""How a `reconciler` process ends (cli/process_exit.py): its exit code, atexit handlers, waiting threads
and output, each checked in a process of its own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]

ENTRY = """
import atexit, sys
atexit.register(lambda: print("ATEXIT RAN"))
from reconciler.cli.main import entry
sys.argv = ["reconciler", *sys.argv[1:]]
entry()
print("AFTER ENTRY")
"""

THREAD = """
import sys, threading
from reconciler.cli.process_exit import exit_quickly

def last_words():
    threading.main_thread().join()  # until the main thread is done: the process must wait for this one
    print("THREAD DONE", flush=True)

threading.Thread(target=last_words).start()
exit_quickly(lambda: sys.exit(4))
"""

UNFLUSHED = """
import sys
from reconciler.cli.process_exit import exit_quickly
sys.stdout.write("unflushed output\\n")
exit_quickly(lambda: sys.exit(int(sys.argv[1])))
"""


def run(program: str, *args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[str]:
    """`program` as a process whose output is buffered, as a command's is when it goes to a file or pipe."""
    env = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", program, *args], cwd=PROJECT, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=120, check=False, env=env)


def test_a_command_ends_with_its_own_exit_code_after_the_atexit_handlers(tmp_path: Path) -> None:
    valid = run(ENTRY, "validate", str(PROJECT / "specs"))
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("valid: ")
    assert valid.stdout.rstrip().endswith("ATEXIT RAN")
    assert "AFTER ENTRY" not in valid.stdout  # the process ended in entry()
    broken = tmp_path / "broken.yaml"
    broken.write_text("environments: [\n")
    invalid = run(ENTRY, "validate", str(broken))
    assert invalid.returncode == 3, invalid.stderr
    assert "ATEXIT RAN" in invalid.stdout


def test_a_thread_that_is_not_a_daemon_is_waited_for() -> None:
    ended = run(THREAD)
    assert ended.returncode == 4, ended.stderr
    assert ended.stdout == "THREAD DONE\n"


def test_output_left_in_the_buffer_is_written() -> None:
    ended = run(UNFLUSHED, "2")
    assert (ended.returncode, ended.stdout) == (2, "unflushed output\n")


def test_output_that_cannot_be_written_is_said_and_ends_with_120_as_cpython_does() -> None:
    with open("/dev/full", "w") as full:  # every write fails: no space left on device
        ended = run(UNFLUSHED, "0", stdout=full.fileno())
    assert ended.returncode == 120
    assert "the output could not be written" in ended.stderr
    with open("/dev/full", "w") as full:
        failed = run(UNFLUSHED, "3", stdout=full.fileno())
    assert failed.returncode == 3  # the command's own failure is what it ends with


def test_a_reader_that_went_away_leaves_the_exit_code_alone() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` that has already exited
    try:
        ended = run(UNFLUSHED, "2", stdout=write_end)
    finally:
        os.close(write_end)
    assert ended.returncode == 2
    assert "could not be written" not in ended.stderr
