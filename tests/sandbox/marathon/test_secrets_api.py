"""Marathon secrets in the sandbox over real HTTP: refused with Marathon's 422 unless the sandbox runs with
the `secrets` feature (as Marathon with `--enable_features secrets`), then stored and returned as written.

Wording and paths: mesosphere/marathon AppValidation.validBasicAppDefinition, Validation.featureEnabled,
EnvVarValidation.envValidator, SecretValidation (AppsResourceTest quotes the first and last of them)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon import MarathonSandbox, MarathonSandboxConfig
from tests.sandbox.marathon.fixtures import fast_config

SECRETS = {"db-password": {"source": "/shop/db/password"}}
ENV = {"DB_USER": "orders", "DB_PASSWORD": {"secret": "db-password"}}
APP = {"id": "/shop/orders", "cmd": "serve", "instances": 1, "cpus": 0.1, "mem": 32, "secrets": SECRETS, "env": ENV}
FEATURE_DISABLED = "Feature secrets is not enabled. Enable with --enable_features secrets)"
REFS_NEED_FEATURE = "use of secret-references in the environment requires the secrets feature to be enabled"


@pytest.fixture
async def secrets_sandbox() -> AsyncIterator[MarathonSandbox]:
    async with MarathonSandbox(fast_config(features=frozenset({"secrets"}))) as sandbox:
        yield sandbox


@pytest.fixture
async def with_secrets(secrets_sandbox: MarathonSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=secrets_sandbox.url, timeout=10.0) as client:
        yield client


async def test_without_the_feature_an_app_with_secrets_is_refused_with_marathons_422(api: httpx.AsyncClient) -> None:
    expected = {"message": "Object is not valid", "details": [
        {"path": "/secrets", "errors": [FEATURE_DISABLED]}, {"path": "/env", "errors": [REFS_NEED_FEATURE]}]}
    for response in (await api.post("/v2/apps", json=APP), await api.put("/v2/apps/shop/orders", json=APP),
                     await api.put("/v2/apps", json=[APP]),
                     await api.put("/v2/groups/shop", json={"id": "/shop", "apps": [APP]})):
        body: dict[str, Any] = response.json()
        assert response.status_code == 422, body
        if response.request.url.path.startswith("/v2/groups"):
            expected_paths = [{"path": f"/apps(0){d['path']}", "errors": d["errors"]} for d in expected["details"]]
            assert body["details"] == expected_paths
        else:
            assert body == expected
    assert (await api.get("/v2/apps/shop/orders")).status_code == 404  # nothing half-applied
    info = (await api.get("/v2/info")).json()
    assert info["marathon_config"]["features"] == []


async def test_with_the_feature_secrets_are_stored_and_returned_as_written(
    secrets_sandbox: MarathonSandbox, with_secrets: httpx.AsyncClient
) -> None:
    api = with_secrets
    created = await api.post("/v2/apps", json=APP)
    assert created.status_code == 201, created.text
    app = (await api.get("/v2/apps/shop/orders")).json()["app"]
    assert (app["secrets"], app["env"]) == (SECRETS, ENV)
    assert (await api.get("/v2/info")).json()["marathon_config"]["features"] == ["secrets"]

    await secrets_sandbox.wait_idle(timeout=60)  # a write while the deployment runs is refused: app locked
    moved = {"db-password": {"source": "/shop/db/password-v2"}}
    changed = await api.patch("/v2/apps/shop/orders", json={"secrets": moved})
    assert changed.status_code == 200, changed.text
    app = (await api.get("/v2/apps/shop/orders")).json()["app"]
    assert (app["secrets"], app["versionInfo"]["lastConfigChangeAt"]) == (moved, app["version"])

    await secrets_sandbox.wait_idle(timeout=60)
    cleared = await api.put("/v2/apps/shop/orders", json={**APP, "secrets": {}, "env": {"DB_USER": "orders"}})
    assert cleared.status_code == 200, cleared.text
    app = (await api.get("/v2/apps/shop/orders")).json()["app"]
    assert "secrets" not in app  # omitted when empty, as Marathon 1.5+ does


async def test_with_the_feature_an_undeclared_reference_is_still_refused(with_secrets: httpx.AsyncClient) -> None:
    response = await with_secrets.post("/v2/apps", json={**APP, "secrets": {}})
    assert (response.status_code, response.json()) == (422, {"message": "Object is not valid", "details": [
        {"path": "/env/DB_PASSWORD/secret", "errors": ["references an undefined secret"]}]})


def test_a_feature_the_sandbox_does_not_emulate_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="feature vips is not emulated"):
        MarathonSandbox(MarathonSandboxConfig(features=frozenset({"vips"})))
