"""Marathon's apps, validated and translated again only when Marathon's JSON for them changed (adapter layer).

An idle controller reads the same `GET /v2/apps?embed=...` answer every cycle, and validating each
app with pydantic and translating it (`App.definition()`, its tasks) is most of that read's cost.
`AppMemo` keeps each app's raw JSON object next to its ActualApp and hands the ActualApp back while
Marathon sends an equal object: translation is a function of that object alone, so an equal object
translates to an equal ActualApp. Dict equality is a deep comparison done in C, far cheaper than decoding.
"""

from __future__ import annotations

from typing import Any

import pydantic

from reconciler.core.model import ActualApp
from reconciler.marathon import wire
from reconciler.marathon.translate import to_actual_app

_APP: pydantic.TypeAdapter[wire.App] = pydantic.TypeAdapter(wire.App)


class AppMemo:
    """Each app's last raw JSON object and its translation, by app id (one per Marathon client)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[Any, ActualApp]] = {}

    def __len__(self) -> int:
        return len(self._seen)

    def translate(self, raw_apps: Any) -> dict[str, ActualApp]:
        """The apps of one `/v2/apps` answer (`body["apps"]`, parsed JSON) keyed by id; raises
        ValueError (pydantic's ValidationError) or TypeError on a body that is not a list of apps.
        Apps Marathon no longer sends are forgotten."""
        if not isinstance(raw_apps, list):
            _refuse(raw_apps)
        seen: dict[str, tuple[Any, ActualApp]] = {}
        apps: dict[str, ActualApp] = {}
        for raw in raw_apps:
            actual = self._known(raw)
            if actual is None:
                actual = self._decoded(raw, raw_apps)
            # The object kept is the one just parsed: nothing else holds it on a hit, so nothing can change it.
            seen[actual.app_id] = (raw, actual)
            apps[actual.app_id] = actual
        self._seen = seen
        return apps

    @staticmethod
    def _decoded(raw: Any, raw_apps: list[Any]) -> ActualApp:
        try:
            return to_actual_app(_APP.validate_python(raw))
        except pydantic.ValidationError:
            _refuse(raw_apps)
            raise

    def _known(self, raw: Any) -> ActualApp | None:
        if not isinstance(raw, dict):
            return None
        app_id = raw.get("id")
        hit = self._seen.get(app_id) if isinstance(app_id, str) else None
        return hit[1] if hit is not None and hit[0] == raw else None


def _refuse(raw_apps: Any) -> None:
    """Raise the error validating the whole list raises, so that it names the app's position (`apps/3/instances`)."""
    wire.AppList.model_validate({"apps": raw_apps})
    raise TypeError(f"apps: expected a list of apps, got {type(raw_apps).__name__}")
