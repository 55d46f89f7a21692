"""Pure parts of the Consul sandbox, table-tested: Go durations, lock-delay rules, DNS names, filter parsing."""

from __future__ import annotations

import pytest

from reconciler.sandbox.consul.dns_names import Lookup, LookupKind, addr_label, address_of_label, parse_lookup
from reconciler.sandbox.consul.durations import DurationError, format_duration, parse_duration
from reconciler.sandbox.consul.filtering import Selectors, compile_filter
from reconciler.sandbox.consul.http_wire import ConsulHTTPError
from reconciler.sandbox.consul.sessions import lock_delay_of, ttl_of


@pytest.mark.parametrize(("text", "seconds"), [("10s", 10), ("1h5m", 3900), ("250ms", 0.25), ("0", 0),
                                               ("1.5m", 90), ("90m", 5400), ("-2s", -2)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "10", "s", "10x", "1h 5m", "ten seconds"])
def test_parse_duration_refuses(text: str) -> None:
    with pytest.raises(DurationError):
        parse_duration(text)


@pytest.mark.parametrize(("seconds", "text"), [(0, "0s"), (10, "10s"), (90, "1m30s"), (5400, "1h30m0s"),
                                               (0.5, "500ms"), (30, "30s")])
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(("value", "seconds"), [(None, 15), ("15s", 15), (5, 5), (999, 999), ("0s", 0),
                                                (15_000_000_000, 15), ("500ns", 500)])
def test_lock_delay_numbers_under_1000_are_seconds(value: object, seconds: float) -> None:
    if seconds > 60:
        with pytest.raises(ConsulHTTPError):
            lock_delay_of(value)
    else:
        assert lock_delay_of(value) == pytest.approx(seconds)


@pytest.mark.parametrize(("value", "ok"), [("", True), ("10s", True), ("86400s", True), ("9s", False),
                                           ("24h1s", False)])
def test_session_ttl_bounds(value: str, ok: bool) -> None:
    if ok:
        ttl_of(value)
    else:
        with pytest.raises(ConsulHTTPError):
            ttl_of(value)


@pytest.mark.parametrize(("name", "lookup"), [
    ("web.service", Lookup(LookupKind.SERVICE, "web")),
    ("v1.web.service", Lookup(LookupKind.SERVICE, "web", "v1")),
    ("a.b.web.service", Lookup(LookupKind.SERVICE, "web", "a.b")),
    ("web.service.dc2", Lookup(LookupKind.SERVICE, "web", None, "dc2")),
    ("web.service.dc1.dc", Lookup(LookupKind.SERVICE, "web", None, "dc1")),
    ("_web._tcp.service", Lookup(LookupKind.SERVICE, "web")),
    ("_web._v1.service", Lookup(LookupKind.SERVICE, "web", "v1")),
    ("_web._v1", Lookup(LookupKind.SERVICE, "web", "v1")),
    ("_web._tcp.dc1", Lookup(LookupKind.SERVICE, "web", None, "dc1")),
    ("redis.func-1.query", Lookup(LookupKind.QUERY, "redis.func-1", None, None, ("redis", "func-1"))),
    ("_redis.func-1._tcp.query", Lookup(LookupKind.QUERY, "redis.func-1", None, None, ("redis", "func-1"))),
    ("foo.node", Lookup(LookupKind.NODE, "foo", None, None, ("foo",))),
    ("c000020a.addr.dc1", Lookup(LookupKind.ADDR, "c000020a", None, "dc1", ("c000020a",))),
])
def test_parse_lookup(name: str, lookup: Lookup) -> None:
    assert parse_lookup(name.split("."), "dc1") == lookup


@pytest.mark.parametrize("name", ["", "web", "web.nothing"])
def test_parse_lookup_refuses(name: str) -> None:
    assert parse_lookup([x for x in name.split(".") if x], "dc1") is None


def test_addr_labels_round_trip() -> None:
    assert addr_label("192.0.2.10") == "c000020a"
    assert addr_label("2001:db8:1:2:cafe::1337") == "20010db800010002cafe000000001337"
    assert address_of_label("c000020a") == "192.0.2.10"
    assert address_of_label("zz") is None


ITEM = {"Service": {"ID": "a", "Tags": ["x", "y"], "Meta": {"env": "qa", "odd key": "1"}, "Port": 80},
        "Checks": [{"Status": "passing"}, {"Status": "warning"}]}


@pytest.mark.parametrize(("expression", "expected"), [
    ('Service.ID == "a"', True),
    ("Service.ID == a", True),
    ("Service.Port == 80", True),
    ("Service.Port != 81", True),
    ('"x" in Service.Tags and not ("z" in Service.Tags)', True),
    ('Service.Tags not contains "z"', True),
    ('Service.Meta["odd key"] == "1"', True),
    ('Service.Meta.missing == "1"', False),
    ('Service.Meta.missing != "1"', True),
    ('"env" in Service.Meta', True),
    ('Checks.Status == "warning"', True),
    ('Checks.Status != "critical"', True),
    ('Service.ID == "b" or Service.ID == "a" and Service.Port == 81', False),
    ('(Service.ID == "b" or Service.ID == "a") and Service.Port == 80', True),
    ("Service.Tags is not empty", True),
    ('Service.Meta.env not matches "^p"', True),
    ("Service.ID == `a`", True),
])
def test_filter_expressions(expression: str, expected: bool) -> None:
    assert compile_filter(expression)(ITEM) is expected


@pytest.mark.parametrize("expression", ["Service.ID ==", '"x" in', "(Service.ID == a", "Service.ID a",
                                        'Service.ID == "a" and', "== a"])
def test_filter_syntax_errors_are_400(expression: str) -> None:
    with pytest.raises(ConsulHTTPError) as error:
        compile_filter(expression)
    assert error.value.status == 400


ITEM_SELECTORS = Selectors.of(ITEM, frozenset({"Meta"}))


@pytest.mark.parametrize(("selector", "unknown_at"), [
    ("Service.ID", None),
    ("Service.Meta.anything", None),
    ('Service.Meta["odd key"]', None),
    ("Checks.Status", None),
    ("Service", None),
    ("Bogus", 0),
    ("Service.Bogus", 1),
    ("Service.ID.Inner", 2),
    ("Service.Tags.x", 2),
    ("Checks.Bogus", 1),
])
def test_selectors_of_a_sample_item(selector: str, unknown_at: int | None) -> None:
    parts = [p for p in selector.replace('["', ".").replace('"]', "").split(".") if p]
    assert ITEM_SELECTORS.first_unknown(parts) == unknown_at


@pytest.mark.parametrize(("expression", "named"), [
    ('Bogus == "x"', "Bogus"),
    ('"x" in Service.Bogus', "Service.Bogus"),
    ('Service.ID == "a" or not (Checks.Output is empty)', "Checks.Output"),
])
def test_unknown_selector_is_a_400_naming_it(expression: str, named: str) -> None:
    with pytest.raises(ConsulHTTPError) as error:
        compile_filter(expression, ITEM_SELECTORS)
    assert error.value.status == 400
    assert error.value.text.startswith("Failed to create boolean expression evaluator: ")
    assert error.value.text.endswith(f'Selector "{named}" is not valid')
    compile_filter(expression)  # without selectors only the syntax is checked
