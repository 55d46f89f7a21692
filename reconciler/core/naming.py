"""Names and ownership labels (pure core): how environments, apps and ids map onto Marathon.

Environment `E` is the Marathon group `/E`; app `A` in it is `/E/A`. Every app the reconciler writes
carries the labels below; apps without MANAGED_BY_LABEL are never changed or deleted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

MANAGED_BY_LABEL = "reconciler.managed-by"
MANAGED_BY_VALUE = "marathon-reconciler"
ENV_LABEL = "reconciler.environment"
APP_LABEL = "reconciler.app"
HASH_LABEL = "reconciler.definition-hash"
REVISION_LABEL = "reconciler.revision"

OWNERSHIP_LABELS = (MANAGED_BY_LABEL, ENV_LABEL, APP_LABEL, HASH_LABEL, REVISION_LABEL)


def is_managed(labels: Mapping[str, str]) -> bool:
    """Whether an app with these labels is the reconciler's to change or delete."""
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY_VALUE

# Marathon's PathId segment rule (src/state/PathId.scala ID_PATH_SEGMENT_PATTERN).
SEGMENT_PATTERN = re.compile(r"^(([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])\.)*([a-z0-9]|[a-z0-9][a-z0-9\-]*[a-z0-9])$")
RESERVED_SEGMENTS = frozenset({"restart", "tasks", "versions", ".", ".."})


def app_id_of(group: str, app: str) -> str:
    """The absolute Marathon id of `app` in the environment whose group is `group`."""
    return f"{group.rstrip('/')}/{app}"


def group_of(env: str) -> str:
    return f"/{env}"


def segment_problem(segment: str) -> str | None:
    """Why `segment` is not a valid Marathon id segment, or None when it is."""
    if segment in RESERVED_SEGMENTS:
        return f"'{segment}' is a reserved word in Marathon ids (restart, tasks, versions, ., ..)"
    if not SEGMENT_PATTERN.match(segment):
        return (
            f"'{segment}' is not a valid Marathon id segment: use lowercase letters, digits, '-' and '.',"
            " not starting or ending with '-'"
        )
    return None


def query_name(app: str, env: str) -> str:
    """Name of the Consul prepared query that resolves `app` inside environment `env`."""
    return f"{app}.{env}"
