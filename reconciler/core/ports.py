"""Assigned ports and networking resets (pure core): what a comparison takes from Marathon's side.

A spec may leave a port for Marathon to assign (`port: 0`, no `servicePort`): the comparison takes the
port Marathon assigned, so it never shows as drift. A write that moves an app off host networking must
clear the port definitions Marathon keeps. Both read normalised definitions (core/normalize.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.normalize import host_networked


def networking_resets(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> dict[str, Any]:
    """What a write must clear for `desired`'s networking to be accepted, both normalised.

    Marathon refuses non-empty `portDefinitions` beside a container network ("portDefinitions are only
    allowed with host-networking", AppValidation.scala), and a partial update keeps the stored ones of
    a host-networked app unless the write sends `portDefinitions: []`. Its answers omit them for
    container networks, so the reset never shows as drift once it has landed.
    """
    if not host_networked(desired) and actual.get("portDefinitions"):
        return {"portDefinitions": []}
    return {}


def adopt_each(desired_items: Any, actual_items: Any, key: str) -> Any:
    """Where a desired item leaves `key` for Marathon to assign, take the value Marathon assigned."""
    if not isinstance(desired_items, list) or not isinstance(actual_items, list):
        return desired_items
    adopted = []
    for index, item in enumerate(desired_items):
        actual_item = actual_items[index] if index < len(actual_items) else None
        if isinstance(item, dict) and isinstance(actual_item, dict) and key not in item and key in actual_item:
            adopted.append({**item, key: actual_item[key]})
        else:
            adopted.append(item)
    return adopted


def adopt_assigned_ports(desired: Mapping[str, Any], actual: Mapping[str, Any]) -> dict[str, Any]:
    """Normalised `desired` with Marathon's assigned ports filled in where the spec asked for any port."""
    result = dict(desired)
    if "portDefinitions" in result:
        result["portDefinitions"] = adopt_each(result["portDefinitions"], actual.get("portDefinitions"), "port")
    container, actual_container = result.get("container"), actual.get("container")
    if isinstance(container, dict) and isinstance(actual_container, dict) and "portMappings" in container:
        mappings = adopt_each(container["portMappings"], actual_container.get("portMappings"), "servicePort")
        result["container"] = {**container, "portMappings": mappings}
    return result
