"""What the engine needs from the Marathon and Consul adapters (engine layer), as Protocols."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from reconciler.consul import wire
from reconciler.consul.blocking import BlockingState
from reconciler.consul.translate import CheckState, NodeServices, WatchedCheck
from reconciler.core.model import Actual
from reconciler.core.registry import ObservedQuery
from reconciler.marathon import wire as marathon_wire


class DeploymentRef(Protocol):
    @property
    def deployment_id(self) -> str: ...


class MarathonPort(Protocol):
    async def observe(self) -> Actual: ...

    async def put_apps(
        self, bodies: Sequence[Mapping[str, Any]], *, force: bool = False, partial_update: bool = True
    ) -> Any: ...

    async def delete_app(self, app_id: str, *, force: bool = True) -> Any: ...

    async def get_app(self, app_id: str) -> marathon_wire.App: ...

    async def get_app_tasks(self, app_id: str) -> list[marathon_wire.Task]: ...

    async def post_tasks_delete(self, task_ids: Sequence[str], *, scale: bool = False, wipe: bool = False) -> None: ...

    async def get_deployments(self) -> Any: ...

    async def get_queue(self) -> list[marathon_wire.QueueItem]: ...


class ConsulPort(Protocol):
    """The Consul endpoints one cycle reads and writes (ConsulClient has them all)."""

    @property
    def base_url(self) -> str: ...

    def for_agent(self, base_url: str) -> ConsulPort: ...

    async def get_catalog_services(
        self, *, block: BlockingState | None = None
    ) -> tuple[dict[str, list[str]], BlockingState]: ...

    async def get_catalog_services_index(self) -> int | None: ...

    async def get_catalog_nodes(
        self, *, block: BlockingState | None = None
    ) -> tuple[list[wire.Node], BlockingState]: ...

    async def get_catalog_node_services(self, node: str, tag: str) -> tuple[NodeServices | None, BlockingState]: ...

    async def get_health_service(
        self, name: str, *, passing: bool = False, tag: str | None = None, block: BlockingState | None = None
    ) -> tuple[list[wire.ServiceEntry], BlockingState]: ...

    async def get_health_state(
        self, state: str = "any", *, block: BlockingState | None = None
    ) -> tuple[list[wire.HealthCheck], BlockingState]: ...

    async def get_watched_checks(
        self, tag: str, *, block: BlockingState | None = None
    ) -> tuple[tuple[WatchedCheck, ...] | None, BlockingState]: ...

    async def get_check_states_since(
        self, index: int, state: str = "any"
    ) -> tuple[tuple[CheckState, ...] | None, BlockingState]: ...

    async def get_queries(self) -> list[wire.PreparedQuery]: ...

    async def get_observed_queries(self) -> Mapping[str, ObservedQuery]: ...

    async def put_agent_service_register(
        self, registration: wire.ServiceRegistration, *, replace_existing_checks: bool = True
    ) -> None: ...

    async def put_agent_service_deregister(self, service_id: str) -> None: ...

    async def post_query(self, q: wire.PreparedQueryDefinition) -> str: ...

    async def put_query(self, query_id: str, q: wire.PreparedQueryDefinition) -> None: ...

    async def delete_query(self, query_id: str) -> None: ...
