"""Fixtures of the sandbox tests: the Marathon sandbox fixture for every folder below."""

from __future__ import annotations

from tests.sandbox.marathon.fixtures import marathon_sandbox  # noqa: F401
