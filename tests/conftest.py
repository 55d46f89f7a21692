"""Suite-wide test settings: reference data location, and skips that are failures in CI."""

from __future__ import annotations

import os
from collections.abc import Generator
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parent.parent
REFERENCE = PROJECT.parent / "shared" / "reference"
IN_CI = bool(os.environ.get("CI"))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    """`../shared/reference` beside the clone; skips (a failure in CI) when it is absent."""
    if not REFERENCE.is_dir():
        pytest.skip(f"reference data not found at {REFERENCE} (only CI and developer machines have it)")
    return REFERENCE


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, None, None]:
    """In CI a skipped test is a failed test: docker and reference tests must really run there."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which counts as a failure: {report.longrepr}"
