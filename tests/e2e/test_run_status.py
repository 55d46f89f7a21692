"""What `reconciler run` prints as status: every row on a small platform or with `--wide`; above
COMPACT_ABOVE apps a summary line and only the rows that are not synced or not healthy."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app as cli_app
from reconciler.cli.output import console
from reconciler.cli.plan_opts import COMPACT_ABOVE
from reconciler.cli.run_job import CycleView
from reconciler.core.model import Actual, ActualApp, ActualTask, TaskState
from reconciler.engine.cycle import CycleResult
from reconciler.spec import load_desired

APPS = COMPACT_ABOVE + 10


def specs(tmp_path: Path) -> Path:
    apps = "\n".join(f"  app-{n}: {{cmd: serve, instances: 1, cpus: 0.1, mem: 32}}" for n in range(APPS))
    (tmp_path / "shop.yaml").write_text(f"apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n{apps}\n")
    return tmp_path


def actual(missing: str, short: str) -> Actual:
    """Every app running its one task, but `missing` is not in Marathon and `short` runs none."""
    apps = {}
    for n in range(APPS):
        app_id = f"/shop/app-{n}"
        if app_id == missing:
            continue
        running = () if app_id == short else (
            ActualTask(task_id=f"t{n}", app_id=app_id, host="127.0.0.2", ports=(31000 + n,), state=TaskState.RUNNING),
        )
        apps[app_id] = ActualApp(app_id=app_id, definition={"id": app_id}, instances=1, tasks=running)
    return Actual(apps=apps, complete=True)


def printed(tmp_path: Path, *, wide: bool) -> str:
    desired = load_desired(specs(tmp_path))
    view = CycleView(lambda: desired, wide=wide)
    with console.capture() as capture:
        view.show(CycleResult("c00001", "test", actual=actual("/shop/app-3", "/shop/app-40")))
    return capture.get()


def test_above_the_limit_a_summary_and_the_rows_needing_attention(tmp_path: Path) -> None:
    out = printed(tmp_path, wide=False)
    assert f"{APPS} apps: {APPS - 2} synced and healthy, 2 not (--wide prints every app)" in out
    assert "app-3 " in out and "app-40 " in out
    assert "app-4 " not in out and "app-41 " not in out


def test_wide_prints_every_row(tmp_path: Path) -> None:
    out = printed(tmp_path, wide=True)
    assert "synced and healthy" not in out
    assert all(f"app-{n} " in out for n in range(APPS))


@pytest.mark.parametrize(("flags", "every_row"), [((), False), (("--wide",), True)])
def test_run_prints_the_status_it_is_told_to(tmp_path: Path, flags: tuple[str, ...], every_row: bool) -> None:
    """The real command against the sandbox: the first cycle creates every app, none runs yet."""
    private = ["--listen", "127.0.0.1:0", "--database", str(tmp_path / "history.db")]
    args = ["run", str(specs(tmp_path)), "--sandbox", "--no-consul", "--cycles", "1", *private, *flags]
    result = CliRunner().invoke(cli_app, args, env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert result.exit_code == 0, result.output
    assert ("synced and healthy" in result.output) is not every_row
    assert all(f"app-{n} " in result.output for n in range(APPS))  # all need attention: none runs yet
