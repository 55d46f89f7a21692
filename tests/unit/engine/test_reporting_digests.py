"""Environment digests are hashed once per Desired object (engine/reporting.py env_digests), and a
changed Desired gets its own."""

from __future__ import annotations

from reconciler.core.hashing import env_digest
from reconciler.engine.reporting import env_digests
from tests.unit.core.planner_builders import desired_app, desired_of


def test_the_same_desired_is_hashed_once_and_a_changed_one_again() -> None:
    desired = desired_of(desired_app("web", cmd="serve"), desired_app("api", "prod", cmd="serve"))
    first = env_digests(desired)
    assert first == {"int": env_digest(desired, "int"), "prod": env_digest(desired, "prod")}
    assert env_digests(desired) is first
    changed = desired_of(desired_app("web", cmd="serve --fast"), desired_app("api", "prod", cmd="serve"))
    again = env_digests(changed)
    assert again["int"] != first["int"] and again["prod"] == first["prod"]
    scaled = desired_of(desired_app("web", cmd="serve"), desired_app("api", "prod", instances=2, cmd="serve"))
    assert env_digests(scaled)["prod"] != first["prod"]
