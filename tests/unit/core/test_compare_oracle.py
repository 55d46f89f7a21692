"""The cold comparison against the plain one it replaced: every pair compares to the same Comparison.

`compare_app` normalises member by member, reads only the members it compares when the spec is
unchanged, hashes through orjson and skips the diff walk when both sides are written alike. The
oracle below is the comparison as it was written before those shortcuts (two walks, the whole
definition, json.dumps, always the walk). Pairs: every app of the reference examples and recordings as
each Marathon version shows it, and random definitions with legacy shapes, defaults, empties, bool/int,
floats, assigned ports, resets and hand edits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, reject, settings
from hypothesis import strategies as st

from reconciler.core.compact import drop_empty, is_empty
from reconciler.core.diff import diff_fields, same_fields
from reconciler.core.hashing import HASH_LENGTH, canonical_value, hashed_content, standard_json
from reconciler.core.model import ActualApp, DesiredApp, FieldChange
from reconciler.core.naming import HASH_LABEL
from reconciler.core.normalize import (
    NESTED_DEFAULT_FIELDS,
    RESET_VALUES,
    STATUS_FIELDS,
    drop_unhashed_labels,
    normalize_definition,
    rewrite_legacy_container,
    rewrite_legacy_top_level,
    sort_set_like,
    strip_nested_defaults,
    strip_top_level_defaults,
)
from reconciler.core.plan import Comparison, compare_app, stamped_definition
from reconciler.core.ports import adopt_assigned_ports, networking_resets
from tests.unit.core.planner_builders import MarathonVersion, marathon_shape


def oracle_normalize(definition: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = drop_empty(canonical_value(definition))
    for key in STATUS_FIELDS:
        result.pop(key, None)
    drop_unhashed_labels(result)
    rewrite_legacy_container(result)
    rewrite_legacy_top_level(result)
    strip_nested_defaults(result)
    for key in NESTED_DEFAULT_FIELDS:
        if key in result:
            result[key] = drop_empty(result[key])
            if is_empty(result[key]):
                del result[key]
    strip_top_level_defaults(result)
    sort_set_like(result)
    return result


def oracle_hash(definition: Mapping[str, Any]) -> str:
    return hashlib.sha256(standard_json(hashed_content(definition)).encode("utf-8")).hexdigest()[:HASH_LENGTH]


def oracle_compare(app: DesiredApp, actual_app: ActualApp) -> Comparison:
    definition = stamped_definition(app)
    desired_hash = oracle_hash(definition)
    actual_hash = actual_app.labels.get(HASH_LABEL)
    actual_norm = oracle_normalize(actual_app.definition)
    desired_norm = adopt_assigned_ports(oracle_normalize(definition), actual_norm)
    keys = (set(definition) | set(desired_norm)) - {"id", "instances"}
    changes = diff_fields(desired_norm, actual_norm, keys)
    resets = networking_resets(desired_norm, actual_norm)
    if desired_hash != actual_hash:
        resets |= {key: RESET_VALUES[key] for key in sorted(actual_norm) if key in RESET_VALUES and key not in keys}
    changes += tuple(FieldChange(f"/{key}", actual_norm[key], value) for key, value in resets.items())
    if desired_hash != actual_hash and not changes:
        changes = (FieldChange(f"/labels/{HASH_LABEL}", actual_hash, desired_hash),)
    return Comparison(definition, desired_hash, actual_hash, changes, resets)


def desired_from(definition: Mapping[str, Any]) -> DesiredApp:
    app_id = str(definition.get("id") or "/int/app")
    return DesiredApp(app_id, "int", app_id.rsplit("/", 1)[-1] or "app", dict(definition), 1)


def actual_of(app: DesiredApp, definition: Mapping[str, Any], stamp: bool) -> ActualApp:
    """`definition` as Marathon holds it, with the hash label of `app` when `stamp` (the spec unchanged)."""
    labels = definition.get("labels")
    labels = dict(labels) if isinstance(labels, Mapping) else {}
    if stamp:
        labels[HASH_LABEL] = oracle_hash(stamped_definition(app))
    return ActualApp(app.app_id, {**definition, "labels": labels}, 1)


def assert_compared_alike(app: DesiredApp, actual_app: ActualApp) -> None:
    try:
        expected = oracle_compare(app, actual_app)
    except (TypeError, AttributeError) as refused:  # a shape no Marathon sends (`uris: 1`) fails alike
        with pytest.raises(type(refused)):
            compare_app(app, actual_app)
        return
    compared = compare_app(app, actual_app)
    assert compared == expected
    assert repr(compared) == repr(expected)  # == takes True for 1: the JSON types must match too
    assert repr(normalize_definition(actual_app.definition)) == repr(oracle_normalize(actual_app.definition))


def reference_apps(reference: Path) -> Iterator[dict[str, Any]]:
    for path in sorted((reference / "marathon").rglob("*.json")):
        try:
            body = json.loads(path.read_text())
        except ValueError:
            continue
        yield from apps_in(body)


def apps_in(body: Any) -> Iterator[dict[str, Any]]:
    """App definitions anywhere in a body: objects with a string id and a command, args or a container."""
    if isinstance(body, list):
        for item in body:
            yield from apps_in(item)
    elif isinstance(body, dict):
        if isinstance(body.get("id"), str) and {"cmd", "args", "container"} & set(body) and "appId" not in body:
            yield body
        for value in body.values():
            yield from apps_in(value)


@pytest.mark.reference
def test_every_reference_app_compares_alike_in_every_marathon_version(reference_dir: Path) -> None:
    apps = list(reference_apps(reference_dir))
    assert len(apps) > 20
    for definition in apps:
        app = desired_from(definition)
        spec = {key: value for key, value in drop_empty(definition).items() if key not in STATUS_FIELDS}
        shapes = [definition, *(marathon_shape(spec, version) for version in MarathonVersion)]
        for shape in shapes:
            for stamp in (True, False):
                assert_compared_alike(app, actual_of(app, shape, stamp))
        for other in apps[:8]:  # a different app where this one was: resets and drift everywhere
            assert_compared_alike(app, actual_of(app, {**other, "id": app.app_id}, stamp=True))


SECRET_APP = {
    "id": "/shop/orders-api",
    "cmd": "serve",
    "env": {"DB_USER": "orders", "DB_PASSWORD": {"secret": "db-password"}},
    "secrets": {"db-password": {"source": "/shop/orders/db-password"}},
}


def stored(definition: dict[str, Any], version: MarathonVersion) -> dict[str, Any]:
    """`definition` as the reconciler writes it (with its ownership labels) and `version` returns it."""
    return marathon_shape(stamped_definition(desired_from(definition)), version)


@pytest.mark.parametrize("version", list(MarathonVersion))
def test_secrets_as_every_marathon_version_returns_them_compare_equal(version: MarathonVersion) -> None:
    app = desired_from(SECRET_APP)
    actual = actual_of(app, stored(SECRET_APP, version), stamp=True)
    assert_compared_alike(app, actual)
    assert compare_app(app, actual).changes == ()


@pytest.mark.parametrize(
    ("edit", "path"),
    [
        ({"secrets": {"db-password": {"source": "/shop/orders/db-password-v2"}}}, "/secrets/db-password/source"),
        ({"env": {"DB_USER": "orders", "DB_PASSWORD": {"secret": "db-password-2"}},
          "secrets": {"db-password-2": {"source": "/shop/orders/db-password"}}}, "/env/DB_PASSWORD/secret"),
        ({"env": {"DB_USER": "orders", "DB_PASSWORD": "hunter22"}}, "/env/DB_PASSWORD"),
        ({"secrets": {}}, "/secrets/db-password/source"),
    ],
    ids=["source", "reference", "reference-to-value", "secret-dropped"],
)
@pytest.mark.parametrize("version", list(MarathonVersion))
def test_a_changed_secret_source_or_reference_is_a_spec_change(
    edit: dict[str, Any], path: str, version: MarathonVersion
) -> None:
    app = desired_from(SECRET_APP)
    actual = actual_of(app, stored({**SECRET_APP, **edit}, version), stamp=False)
    assert_compared_alike(app, actual)
    compared = compare_app(app, actual)
    assert compared.desired_hash != compared.actual_hash
    assert path in [change.path for change in compared.changes]


leaves = st.sampled_from([0, 1, 2, 0.0, 1.0, 0.5, 1.15, 1e-05, True, False, None, "", "x", "HOST", "*", 128, 300])
values = st.recursive(
    leaves,
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.sampled_from(["port", "protocol", "name", "mode", "image", "a", "network"]), children,
                      max_size=3),
    max_leaves=8,
)
members = st.sampled_from(
    ["cmd", "cpus", "mem", "disk", "gpus", "env", "labels", "args", "constraints", "dependencies", "healthChecks",
     "portDefinitions", "ports", "uris", "fetch", "networks", "requirePorts", "tty", "backoffFactor",
     "maxLaunchDelaySeconds", "acceptedResourceRoles", "upgradeStrategy", "unreachableStrategy", "killSelection",
     "container", "secrets", "executor", "version", "tasks"]
)
containers = st.fixed_dictionaries(
    {"docker": st.fixed_dictionaries(
        {},
        optional={
            "image": st.just("i"),
            "network": st.sampled_from(["BRIDGE", "HOST", "USER"]),
            "portMappings": st.lists(st.fixed_dictionaries({"containerPort": st.just(80)},
                                                           optional={"servicePort": st.sampled_from([0, 10001])}),
                                     max_size=2),
            "privileged": st.booleans(),
        },
    )},
    optional={"type": st.just("DOCKER"), "portMappings": st.lists(st.fixed_dictionaries({"containerPort": st.just(81)}),
                                                                  max_size=1)},
)
bases = st.fixed_dictionaries(
    {"id": st.sampled_from(["/int/web", "/int/g/api"])},
    optional={
        "cmd": st.just("serve"),
        "container": containers,
        "portDefinitions": st.lists(st.fixed_dictionaries({"port": st.sampled_from([0, 10000])},
                                                          optional={"protocol": st.just("tcp")}), max_size=2),
        "networks": st.sampled_from([[{"mode": "host"}], [{"mode": "container/bridge"}]]),
        "dependencies": st.lists(st.sampled_from(["db", "../x", "/int/z"]), max_size=2),
        "labels": st.dictionaries(st.sampled_from(["team", "reconciler.revision"]), st.sampled_from(["a", ""])),
    },
)
edits = st.lists(st.tuples(members, values | st.just("<deleted>")), max_size=3)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    bases,
    st.dictionaries(members.filter(lambda key: key != "labels"), values, max_size=4),  # the spec's labels are a map
    st.sampled_from([None, *MarathonVersion]),
    edits,
    st.booleans(),
)
def test_random_pairs_compare_alike(
    base: dict[str, Any], extra: dict[str, Any], version: MarathonVersion | None, changes: list[tuple[str, Any]],
    stamp: bool,
) -> None:
    app = desired_from({**extra, **base})
    try:
        stamped_definition(app)
    except (TypeError, AttributeError):  # `dependencies: 1`: the spec layer refuses it
        reject()
    actual = {**extra, **(marathon_shape(base, version) if version else base)}
    for key, value in changes:  # hand edits in Marathon
        if value == "<deleted>":
            actual.pop(key, None)
        else:
            actual[key] = value
    assert_compared_alike(app, actual_of(app, actual, stamp))


NAN = float("nan")


@pytest.mark.parametrize(
    ("desired", "actual", "same"),
    [
        ({"cmd": "a", "env": {"A": "1"}}, {"env": {"A": "1"}, "cmd": "a"}, True),
        ({"requirePorts": True}, {"requirePorts": 1}, False),
        ({"env": {"on": [True]}}, {"env": {"on": [1]}}, False),
        ({"cpus": 0.5}, {"cpus": 0.5, "mem": 64}, False),
        ({"cpus": 1.0}, {"cpus": 1}, None),  # written apart, equal to the walk: it decides
        ({"disk": -0.0}, {"disk": 0.0}, None),
        ({"x": NAN}, {"x": NAN}, False),  # one object: `==` of dicts takes it as equal, the walk does not
        ({"args": ["a", None]}, {"args": ["a", None]}, None),
        ({"cpus": 2**70}, {"cpus": 2**70}, None),
        ({}, {}, True),
    ],
    ids=["equal", "bool-int", "nested-bool-int", "one-absent", "float-int", "negative-zero", "nan", "null", "big-int",
         "empty"],
)
def test_same_fields_never_says_same_where_the_walk_finds_a_change(
    desired: dict[str, Any], actual: dict[str, Any], same: bool | None
) -> None:
    keys = ["cmd", "env", "requirePorts", "cpus", "mem", "disk", "x", "args"]
    told = same_fields(desired, actual, keys)
    if same is not None:
        assert told is same
    assert not told or diff_fields(desired, actual, keys) == ()
    assert same is not False or diff_fields(desired, actual, keys) != ()
