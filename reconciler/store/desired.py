"""An environment's desired state as a stored document (layer 3 adapter, store).

`rollback` re-applies the desired state of an earlier revision and `approve` applies a plan made from
a recorded one, so the store keeps each synced environment's apps (definitions, instances, heal and
autoscale policies) as JSON. pydantic's TypeAdapter reads the core's dataclasses both ways; a test
checks that the round trip gives back an equal Desired.
"""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError

from reconciler.core.model import Desired
from reconciler.store.migrations import StoreError

_ADAPTER: TypeAdapter[Desired] = TypeAdapter(Desired)


def environment_only(desired: Desired, env: str) -> Desired:
    """`desired` narrowed to one environment: its definition and its own apps."""
    environments = {name: e for name, e in desired.environments.items() if name == env}
    apps = {app_id: app for app_id, app in desired.apps.items() if app.env == env}
    return Desired(environments=environments, apps=apps, revision=desired.revision)


def encode_desired(desired: Desired, env: str) -> str:
    return _ADAPTER.dump_json(environment_only(desired, env)).decode()


def decode_desired(document: str) -> Desired:
    try:
        return _ADAPTER.validate_json(document)
    except ValidationError as exc:
        raise StoreError(f"a stored desired state does not read back: {exc.error_count()} problem(s)",
                         hint="it was written by an incompatible reconciler version") from None
