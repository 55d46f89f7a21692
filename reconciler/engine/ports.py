"""What the engine needs from the Marathon adapter (engine layer), as a Protocol."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from reconciler.core.model import Actual


class DeploymentRef(Protocol):
    @property
    def deployment_id(self) -> str: ...


class MarathonPort(Protocol):
    async def observe(self) -> Actual: ...

    async def put_apps(
        self, bodies: Sequence[Mapping[str, Any]], *, force: bool = False, partial_update: bool = True
    ) -> Any: ...

    async def delete_app(self, app_id: str, *, force: bool = True) -> Any: ...

    async def post_tasks_delete(self, task_ids: Sequence[str], *, scale: bool = False, wipe: bool = False) -> None: ...

    async def get_deployments(self) -> Any: ...
