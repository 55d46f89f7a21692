"""The prepared-query list of an idle cycle is translated once: the same query objects (the client's
answer unchanged) give back the same read-only translation; another object is translated anew."""

from __future__ import annotations

import pytest

from reconciler.consul import wire
from reconciler.engine.consul_read import observed_queries


def query(name: str, tags: list[str]) -> wire.PreparedQuery:
    return wire.PreparedQuery.model_validate(
        {"ID": f"id-{name}", "Name": name, "Service": {"Service": "redis", "OnlyPassing": True, "Tags": tags}})


def test_the_same_query_objects_are_not_translated_again_and_a_new_one_is() -> None:
    kept = [query("redis.int", ["int"]), query("web.int", ["int"])]
    first = observed_queries(kept)
    assert observed_queries(list(kept)) is first
    changed = observed_queries([kept[0], query("web.int", ["int", "blue"])])
    assert changed is not first and changed["web.int"].tags == ("int", "blue")
    assert observed_queries([kept[0]]).keys() == {"redis.int"}


def test_the_translation_handed_to_every_cycle_cannot_be_changed_by_one() -> None:
    translated = observed_queries([query("redis.int", ["int"])])
    with pytest.raises(TypeError):
        translated["redis.int"] = translated["redis.int"]  # type: ignore[index]
