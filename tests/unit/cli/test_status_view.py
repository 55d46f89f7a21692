"""The status tables of `reconciler run`: what each cell says."""

from __future__ import annotations

from reconciler.cli.status_view import task_addresses
from reconciler.core.model import ActualTask, TaskState


def task(n: int) -> ActualTask:
    return ActualTask(task_id=f"t{n}", app_id="/shop/web", host=f"127.0.0.{n + 1}", ports=(31000 + n,),
                      state=TaskState.RUNNING)


def test_task_addresses_show_three_then_say_how_many_more() -> None:
    assert task_addresses([task(1), task(2)]) == "127.0.0.2:31001 127.0.0.3:31002"
    assert task_addresses([task(n) for n in range(1, 6)]) == (
        "127.0.0.2:31001 127.0.0.3:31002 127.0.0.4:31003 (+2 more)"
    )
