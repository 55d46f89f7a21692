"""Two readings of a `/v2/apps` answer's apps, for tests: the one observe makes (AppMemo: the plain-JSON
reading, pydantic where it declines) and the one it made before the plain reading existed (pydantic)."""

from __future__ import annotations

import copy
from typing import Any

import pydantic

from reconciler.marathon import wire
from reconciler.marathon.app_memo import AppMemo
from reconciler.marathon.plain_json import actual_app_of_json
from reconciler.marathon.translate import to_actual_app

Json = Any


def pydantic_reading(raw_apps: Json) -> str:
    """What observe made of `body["apps"]` before the plain reading: every app validated, then translated."""
    try:
        apps = wire.AppList.model_validate({"apps": raw_apps}).apps
    except pydantic.ValidationError as exc:
        return f"ValidationError: {exc}"
    return repr({app.id: to_actual_app(app) for app in apps})


def memo_reading(raw_apps: Json) -> str:
    try:
        return repr(AppMemo().translate(copy.deepcopy(raw_apps)))
    except pydantic.ValidationError as exc:
        return f"ValidationError: {exc}"


def assert_same_reading(raw_apps: Json) -> None:
    assert memo_reading(raw_apps) == pydantic_reading(raw_apps)
    for raw in raw_apps:
        plain = actual_app_of_json(copy.deepcopy(raw))
        if plain is not None:
            expected = to_actual_app(wire.App.model_validate(raw))
            assert plain == expected and repr(plain) == repr(expected)
