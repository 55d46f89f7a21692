"""Marathon's apps, validated and translated again only when Marathon's JSON for them changed (adapter layer).

An idle controller reads the same `GET /v2/apps?embed=...` answer every cycle, and validating each
app with pydantic and translating it (`App.definition()`, its tasks) is most of that read's cost.
`AppMemo` keeps each app's JSON object, serialised compactly (orjson: it tells `1` from `1.0` and
`true`), next to its ActualApp and hands the ActualApp back while Marathon sends an object that
serialises to the same bytes: translation is a function of that object alone. The bytes are a fraction
of the parsed tree's memory (about 1.3 KB against 8 KB an app) and compare in one memcmp.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
import pydantic

from reconciler.core.model import ActualApp
from reconciler.marathon import wire
from reconciler.marathon.plain_json import actual_app_of_json
from reconciler.marathon.translate import to_actual_app

_APP: pydantic.TypeAdapter[wire.App] = pydantic.TypeAdapter(wire.App)


class AppMemo:
    """Each app's last raw JSON object and its translation, by app id (one per Marathon client).

    `remember=False` for a client that observes once (`reconciler plan`): no app is fingerprinted nor the
    answer hashed, which only a later read could use (about 0.05 s at 10,000 apps).

    The client calls it from a worker thread (a large answer is decoded off the event loop), and the
    thread of a cancelled observe may still run when the next one starts: its state is two references,
    each replaced whole and never changed in place, whose every entry is a function of its key (the app's
    bytes, the answer's digest), so overlapping reads get the right apps whichever state they see."""

    def __init__(self, *, remember: bool = True) -> None:
        self._remember = remember
        self._seen: dict[str, tuple[bytes, ActualApp]] = {}
        # The last whole answer's digest and its apps: an answer byte for byte the same is not even parsed
        # (a digest, not the answer: 15 MB at 10,000 apps).
        self._answer: tuple[bytes, dict[str, ActualApp]] | None = None

    def __len__(self) -> int:
        return len(self._seen)

    def unchanged(self, content: bytes) -> dict[str, ActualApp] | None:
        """The apps of the last answer when `content` is byte for byte that answer, else None."""
        kept = self._answer
        return dict(kept[1]) if kept is not None and kept[0] == digest(content) else None

    def translate(self, raw_apps: Any, content: bytes | None = None, *, lenient: bool = False) -> dict[str, ActualApp]:
        """The apps of one `/v2/apps` answer (`body["apps"]`, parsed JSON) keyed by id; raises
        ValueError (pydantic's ValidationError) or TypeError on a body that is not a list of apps.
        Apps Marathon no longer sends are forgotten. `content`: the answer they were parsed from, kept
        for `unchanged`. `lenient`: the standard parser read it (gc_pause.parsed_json_strictly), so an app
        may hold a NaN or an infinity, whose fingerprint is that of `null`: none is fingerprinted."""
        if not isinstance(raw_apps, list):
            _refuse(raw_apps)
        seen: dict[str, tuple[bytes, ActualApp]] = {}
        apps: dict[str, ActualApp] = {}
        remember = self._remember and not lenient
        for raw in raw_apps:
            mark = fingerprint(raw) if remember else None
            actual = self._known(raw, mark)
            if actual is None:
                actual = self._decoded(raw, raw_apps)
            if mark is not None:
                seen[actual.app_id] = (mark, actual)
            apps[actual.app_id] = actual
        self._seen = seen
        self._answer = (digest(content), dict(apps)) if content is not None and self._remember else None
        return apps

    @staticmethod
    def _decoded(raw: Any, raw_apps: list[Any]) -> ActualApp:
        """The app read from its JSON as it is (plain_json.py), else validated by pydantic."""
        actual = actual_app_of_json(raw)
        if actual is not None:
            return actual
        try:
            return to_actual_app(_APP.validate_python(raw))
        except pydantic.ValidationError:
            _refuse(raw_apps)
            raise

    def _known(self, raw: Any, mark: bytes | None) -> ActualApp | None:
        if mark is None:
            return None
        app_id = raw.get("id")
        hit = self._seen.get(app_id) if isinstance(app_id, str) else None
        return hit[1] if hit is not None and hit[0] == mark else None


def fingerprint(raw: Any) -> bytes | None:
    """An app object's compact JSON; None (never memoised) for what is not an object or will not serialise
    (an integer beyond 64 bits). Only of an app orjson parsed: a NaN or an infinity is written `null`."""
    if not isinstance(raw, dict):
        return None
    try:
        # A copy: the bytes orjson hands back sit in an allocation of about 8 KB whatever their length.
        return bytes(memoryview(orjson.dumps(raw)))
    except orjson.JSONEncodeError:
        return None


def digest(content: bytes) -> bytes:
    # SHA-256 rather than BLAKE2: OpenSSL hashes it with the CPU's SHA extensions (x86 since 2017, ARMv8),
    # about 2.5 times faster on a 14 MB answer here.
    return hashlib.sha256(content).digest()


def _refuse(raw_apps: Any) -> None:
    """Raise the error validating the whole list raises, so that it names the app's position (`apps/3/instances`)."""
    wire.AppList.model_validate({"apps": raw_apps})
    raise TypeError(f"apps: expected a list of apps, got {type(raw_apps).__name__}")
