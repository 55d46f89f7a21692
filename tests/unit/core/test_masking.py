"""What a plan shows of a changed field (core/masking.py): secrets masked on both sides, the change still
visible, the real values untouched for the comparison and the write."""

from __future__ import annotations

from typing import Any

import pytest

from reconciler.core.export import action_as_dict
from reconciler.core.masking import is_secret_name, secret_env_values, shown_change
from reconciler.core.model import Action, ActionKind, FieldChange


@pytest.mark.parametrize(
    ("path", "actual", "desired", "shown"),
    [
        ("/env/API_PASSWORD", "old-pw", "new-pw", ("***", "***")),
        ("/env/db_passwd", None, "new-pw", (None, "***")),  # added: the absent side stays absent
        ("/env/GITHUB_TOKEN", "a", None, ("***", None)),
        ("/env/AWS_SECRET_ACCESS_KEY", "a", "b", ("***", "***")),
        ("/env/DATABASE_URL", "postgres://app:a1@db/x", "postgres://app:b2@db/x",
         ("postgres://***@db/x", "postgres://***@db/x")),
        ("/env/JDBC", "jdbc:mysql://db/x?user=a&password=p1", "jdbc:mysql://db/x?user=a&password=p2",
         ("jdbc:mysql://db/x?user=a&password=***", "jdbc:mysql://db/x?user=a&password=***")),
        ("/labels/REPO", "https://bob:t1@git.test/x.git", "https://git.test/x.git",
         ("https://***@git.test/x.git", "https://git.test/x.git")),
        ("/fetch", [{"uri": "https://u:p1@h.test/a.tgz"}], [],
         ([{"uri": "https://***@h.test/a.tgz"}], [])),
        ("/env", None, {"API_KEY": "k1", "MODE": "x"}, (None, {"API_KEY": "***", "MODE": "x"})),
        ("/container", {"env": {"SECRET": "s"}}, None, ({"env": {"SECRET": "***"}}, None)),
        # Labels are named like variables, and masked by the same rule.
        ("/labels/WEBHOOK_TOKEN", "t1", "t2", ("***", "***")),
        ("/labels", {"basic-auth-password": "pw", "tier": "edge"}, None,
         ({"basic-auth-password": "***", "tier": "edge"}, None)),
        ("/fetch/0", {"labels": {"apiKey": "k"}}, None, ({"labels": {"apiKey": "***"}}, None)),
    ],
)
def test_secrets_are_masked_on_both_sides(path: str, actual: Any, desired: Any, shown: tuple[Any, Any]) -> None:
    change = FieldChange(path, actual, desired)
    masked = shown_change(change)
    assert (masked.actual, masked.desired) == shown
    assert masked.masked
    assert (change.actual, change.desired) == (actual, desired)  # the comparison's values are untouched


@pytest.mark.parametrize(
    ("path", "actual", "desired"),
    [("/env/JAVA_OPTS", "-Xmx1g", "-Xmx2g"), ("/container/docker/image", "a:1", "a:2"), ("/instances", 1, 2),
     ("/env/MONKEY", "a", "b"), ("/labels/tier", "web", "edge"), ("/healthChecks/0/path", "/health", "/ready")],
)
def test_other_values_are_shown_as_they_are(path: str, actual: Any, desired: Any) -> None:
    masked = shown_change(FieldChange(path, actual, desired))
    assert (masked.actual, masked.desired, masked.masked) == (actual, desired, False)


def test_the_json_view_says_which_changes_it_masked() -> None:
    action = Action(ActionKind.UPDATE, "/shop/web", "spec changed: 2 fields", env="shop",
                    changes=(FieldChange("/env/API_TOKEN", "t1", "t2"), FieldChange("/mem", 32, 64)))
    assert action_as_dict(action)["changes"] == [
        {"path": "/env/API_TOKEN", "actual": "***", "desired": "***", "masked": True},
        {"path": "/mem", "actual": 32, "desired": 64},
    ]


@pytest.mark.parametrize(
    ("name", "secret"),
    [("API_PASSWORD", True), ("db_passwd", True), ("CLIENT_SECRET", True), ("SESSION_TOKEN", True),
     ("STRIPE_KEY", True), ("apiKey", True), ("JAVA_OPTS", False), ("KEYCLOAK_URL", False), ("monkey", False)],
)
def test_secret_names(name: str, secret: bool) -> None:
    assert is_secret_name(name) is secret


def test_secret_env_values_of_one_body_or_a_list() -> None:
    body = {"id": "/a", "env": {"API_PASSWORD": "pw-long", "SHORT_TOKEN": "abc", "MODE": "prod-mode",
                                "DB_PASSWORD": {"secret": "db"}}}
    assert secret_env_values(body) == ("pw-long",)
    assert secret_env_values([body, {"id": "/b", "env": {"X_SECRET": "s3cr3t"}}, {"id": "/c"}]) == (
        "pw-long", "s3cr3t")
    assert secret_env_values(None) == ()
    assert secret_env_values({"id": "/d", "labels": {"DEPLOY_TOKEN": "tok-123", "tier": "edge-tier"}}) == (
        "tok-123",)


REF, OTHER = {"secret": "db-password"}, {"secret": "db-password-2"}


@pytest.mark.parametrize(
    ("path", "actual", "desired", "shown", "masked"),
    [
        # A reference names a declared secret; the value lives in Marathon's secret store: shown as it is.
        ("/env/DB_PASSWORD/secret", "db-password", "db-password-2", ("db-password", "db-password-2"), False),
        ("/env/DB_PASSWORD", REF, OTHER, (REF, OTHER), False),
        ("/env/DB_PASSWORD", None, REF, (None, REF), False),
        ("/env", None, {"DB_PASSWORD": REF, "API_KEY": "k1"}, (None, {"DB_PASSWORD": REF, "API_KEY": "***"}), True),
        ("/secrets/db-password/source", "/shop/db", "/shop/db-v2", ("/shop/db", "/shop/db-v2"), False),
        ("/secrets", None, {"db-password": {"source": "/shop/db"}}, (None, {"db-password": {"source": "/shop/db"}}),
         False),
        # A value replaced by a reference: the value is still masked, the reference shown.
        ("/env/DB_PASSWORD", "hunter22", REF, ("***", REF), True),
        # Not a reference (another key beside it): a value like any other, masked.
        ("/env/DB_PASSWORD", None, {"secret": "x", "value": "y"}, (None, "***"), True),
    ],
    ids=["reference-name", "reference", "added", "whole-env", "source", "secrets", "value-to-reference", "not-a-ref"],
)
def test_a_secret_reference_is_shown_as_it_is_whatever_the_variable_is_named(
    path: str, actual: Any, desired: Any, shown: tuple[Any, Any], masked: bool
) -> None:
    change = shown_change(FieldChange(path, actual, desired))
    assert (change.actual, change.desired, change.masked) == (*shown, masked)


def test_secret_references_are_no_values_to_scrub_from_a_remote_answer() -> None:
    body = {"env": {"DB_PASSWORD": REF, "API_TOKEN": "t0k3n-value"}, "secrets": {"db-password": {"source": "/s"}}}
    assert secret_env_values(body) == ("t0k3n-value",)
