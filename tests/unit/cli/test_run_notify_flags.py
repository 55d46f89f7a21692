"""The --notify-* tuning flags of `reconciler run` (face layer, in process: every case here ends before
anything is contacted): what reaches the alert options, the defaults, and what is refused."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app
from reconciler.cli.run import run_command
from reconciler.cli.run_notify import notify_settings
from reconciler.core.alerts import AlertOptions
from reconciler.engine.notify_format import NotifyFormat
from reconciler.errors import ReconcilerError

runner = CliRunner()
SPEC = "apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps: {}\n"


def _specs(tmp_path: Path) -> Path:
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "shop.yaml").write_text(SPEC)
    return tmp_path / "specs"


def test_the_at_max_hold_reaches_the_alert_options_and_defaults_to_30_seconds() -> None:
    settings = notify_settings(None, "https://hooks.example.invalid/t", None,  # type: ignore[arg-type]
                               NotifyFormat.JSON, 600.0, 600.0, 5.0)
    assert settings is not None and settings.alerts.at_max_for_seconds == 5.0
    assert settings.alerts.deployment_deadline_seconds == 600.0
    # The default of the flag is the detection's own (docs/notifications.md: 30 s).
    assert inspect.signature(run_command).parameters["notify_at_max_for"].default == 30.0
    assert AlertOptions().at_max_for_seconds == 30.0


def test_the_at_max_hold_without_a_webhook_is_refused(tmp_path: Path) -> None:
    args = ["--marathon", "http://127.0.0.1:9", "run", str(_specs(tmp_path)), "--no-consul",
            "--notify-at-max-for", "5"]
    result = runner.invoke(app, args)
    error = result.exception
    assert isinstance(error, ReconcilerError), (result.output, error)
    assert error.exit_code == 2  # as reconciler.cli.main:main maps it
    assert "--notify-at-max-for without a webhook" in str(error)


@pytest.mark.parametrize("value", ["0.5", "-1", "soon"])
def test_an_at_max_hold_under_a_second_or_not_a_number_is_refused(tmp_path: Path, value: str) -> None:
    args = ["--marathon", "http://127.0.0.1:9", "run", str(_specs(tmp_path)), "--no-consul",
            "--notify-url", "https://hooks.example.invalid/t", "--notify-at-max-for", value]
    result = runner.invoke(app, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert "--notify-at-max-for" in result.output
