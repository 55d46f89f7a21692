"""Real recorded GET answers (../shared/reference) are not drift for the spec an operator would write:
the planner check of tests/unit/core/test_planner_phantom.py, fed with third-party recordings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.core.test_planner_phantom import assert_answer_is_not_drift

pytestmark = pytest.mark.reference

RECORDED = [
    ("marathon-lb__marathon15_apps.json", "/pywebserver"),
    ("marathon-bigip-ctlr__marathon_two_apps_v152.json", "/nginx-app"),
    ("marathon-consul__app.json", "/myapp"),
]


@pytest.mark.parametrize(("file_name", "app_id"), RECORDED)
def test_recorded_marathon_answers_are_not_drift(reference_dir: Path, file_name: str, app_id: str) -> None:
    assert_answer_is_not_drift(reference_dir / "marathon" / "recorded" / file_name, app_id)
