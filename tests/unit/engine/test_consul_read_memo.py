"""The prepared-query list of an idle cycle is translated once: the same query objects (the client's
answer unchanged) give back the same read-only translation; another object is translated anew."""

from __future__ import annotations

import pytest

from reconciler.consul import wire
from reconciler.engine.consul_read import translate_queries


def query(name: str, tags: list[str]) -> wire.PreparedQuery:
    return wire.PreparedQuery.model_validate(
        {"ID": f"id-{name}", "Name": name, "Service": {"Service": "redis", "OnlyPassing": True, "Tags": tags}})


def test_the_same_query_objects_are_not_translated_again_and_a_new_one_is() -> None:
    kept = [query("redis.int", ["int"]), query("web.int", ["int"])]
    first = translate_queries(kept, None)
    assert translate_queries(list(kept), first).observed is first.observed
    changed = translate_queries([kept[0], query("web.int", ["int", "blue"])], first)
    assert changed.observed is not first.observed and changed.observed["web.int"].tags == ("int", "blue")
    assert translate_queries([kept[0]], changed).observed.keys() == {"redis.int"}


def test_the_translation_handed_to_every_cycle_cannot_be_changed_by_one() -> None:
    translated = translate_queries([query("redis.int", ["int"])], None).observed
    with pytest.raises(TypeError):
        translated["redis.int"] = translated["redis.int"]  # type: ignore[index]
