"""The controller's HTTP server over real HTTP on loopback: health, readiness, metrics, status, webhook."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.engine.telemetry import ControllerMetrics
from reconciler.web.server import HttpServer, Readiness, ServerHooks, parse_listen
from reconciler.web.signature import sign

SECRET = b"hook-secret"
PUSH = json.dumps({"ref": "refs/heads/main", "after": "a" * 40}).encode()


@dataclass
class Controllerish:
    """What the server asks of a controller, held in plain fields the tests change."""

    ready: bool = False
    pushes: list[str] = field(default_factory=list)
    metrics: ControllerMetrics = field(default_factory=ControllerMetrics)

    def hooks(self, secret: bytes | None, branch: str | None = "main") -> ServerHooks:
        return ServerHooks(
            status=lambda: {"environments": {"integration": {"synced": "abc", "sync": "Synced"}}},
            readiness=lambda: Readiness(self.ready, "ready" if self.ready else "first cycle not done"),
            on_git_push=self.pushes.append, metrics=self.metrics, webhook_secret=secret, branch=branch,
        )


async def serve(hooks: ServerHooks) -> AsyncIterator[tuple[HttpServer, str]]:
    server = HttpServer(hooks, "127.0.0.1", 0)
    host, port = await server.start()
    try:
        yield server, f"http://{host}:{port}"
    finally:
        await server.stop()


@pytest.fixture
def controller() -> Controllerish:
    return Controllerish()


@pytest.fixture
async def base(controller: Controllerish) -> AsyncIterator[str]:
    async for _server, url in serve(controller.hooks(SECRET)):
        yield url


async def test_health_and_readiness(base: str, controller: Controllerish) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{base}/healthz")).status_code == 200
        not_ready = await http.get(f"{base}/readyz")
        assert (not_ready.status_code, not_ready.text.strip()) == (503, "first cycle not done")
        controller.ready = True
        assert (await http.get(f"{base}/readyz")).status_code == 200


async def test_status_is_the_document_the_controller_gives(base: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{base}/status")
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.json() == {"environments": {"integration": {"synced": "abc", "sync": "Synced"}}}


async def test_metrics_expose_every_family(base: str, controller: Controllerish) -> None:
    m = controller.metrics
    m.cycle_done(0.2, ok=True)
    m.cycle_done(1.5, ok=False)
    m.action_done("create", "succeeded")
    m.heal_done("integration", "succeeded")
    m.set_drifted("integration", 2)
    m.error("invalid-spec")
    m.set_leader(True)
    m.set_synced("integration", "aaa")
    m.set_synced("integration", "bbb")  # replaces the aaa series
    async with httpx.AsyncClient() as http:
        answer = await http.get(f"{base}/metrics")
    assert answer.headers["content-type"].startswith("text/plain")
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for family in text_string_to_metric_families(answer.text) for s in family.samples}
    assert samples[("reconciler_cycles_total", (("result", "ok"),))] == 1
    assert samples[("reconciler_cycles_total", (("result", "failed"),))] == 1
    assert samples[("reconciler_cycle_duration_seconds_count", ())] == 2
    assert samples[("reconciler_actions_total", (("kind", "create"), ("outcome", "succeeded")))] == 1
    assert samples[("reconciler_heals_total", (("env", "integration"), ("outcome", "succeeded")))] == 1
    assert samples[("reconciler_drifted_apps", (("env", "integration"),))] == 2
    assert samples[("reconciler_errors_total", (("kind", "invalid-spec"),))] == 1
    assert samples[("reconciler_leader", ())] == 1
    synced = {k: v for k, v in samples.items() if k[0] == "reconciler_synced_revision_info"}
    assert synced == {("reconciler_synced_revision_info", (("env", "integration"), ("revision", "bbb"))): 1}


async def test_a_signed_push_triggers_and_a_bad_one_does_not(base: str, controller: Controllerish) -> None:
    hook = f"{base}/hooks/git"
    async with httpx.AsyncClient() as http:
        unsigned = await http.post(hook, content=PUSH)
        wrong = await http.post(hook, content=PUSH, headers={"X-Hub-Signature-256": sign(b"other", PUSH)})
        tampered = await http.post(hook, content=PUSH + b" ", headers={"X-Hub-Signature-256": sign(SECRET, PUSH)})
        assert [r.status_code for r in (unsigned, wrong, tampered)] == [401, 401, 401]
        assert controller.pushes == []
        good = await http.post(hook, content=PUSH, headers={"X-Hub-Signature-256": sign(SECRET, PUSH),
                                                             "X-GitHub-Event": "push"})
        assert (good.status_code, good.json()) == (202, {"triggered": True})
        assert controller.pushes == ["webhook:push"]
        other = json.dumps({"ref": "refs/heads/feature"}).encode()
        ignored = await http.post(hook, content=other, headers={"X-Hub-Signature-256": sign(SECRET, other)})
        ping = await http.post(hook, content=b"{}", headers={"X-Hub-Signature-256": sign(SECRET, b"{}"),
                                                             "X-GitHub-Event": "ping"})
        assert ignored.json()["triggered"] is False and ping.json()["triggered"] is False
        assert controller.pushes == ["webhook:push"]
        assert (await http.get(hook)).status_code == 405


async def test_without_a_secret_every_push_triggers(controller: Controllerish) -> None:
    async for _server, url in serve(controller.hooks(None, branch=None)):
        async with httpx.AsyncClient() as http:
            assert (await http.post(f"{url}/hooks/git", content=b"")).status_code == 202
    assert controller.pushes == ["webhook:push"]


async def test_a_taken_port_is_a_clear_error(base: str, controller: Controllerish) -> None:
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(Exception, match=f"--listen 127.0.0.1:{port}"):
        await HttpServer(controller.hooks(None), "127.0.0.1", port).start()


def test_parse_listen() -> None:
    assert parse_listen("127.0.0.1:9090") == ("127.0.0.1", 9090)
    assert parse_listen("[::1]:80") == ("::1", 80)
    assert parse_listen(":9090") == ("127.0.0.1", 9090)
    for bad in ("9090", "host:", "host:port", "h:70000"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_listen(bad)


async def test_a_form_delivery_to_another_branch_is_ignored(base: str, controller: Controllerish) -> None:
    # GitHub's "application/x-www-form-urlencoded" content type (Gitea's "form"): the JSON in `payload`.
    # Before, its branch was not read, so every push to any branch made the controller fetch and cycle.
    async with httpx.AsyncClient() as http:
        for ref, triggered in (("refs/heads/feature", False), ("refs/heads/main", True)):
            body = urlencode({"payload": json.dumps({"ref": ref})}).encode()
            answer = await http.post(f"{base}/hooks/git", content=body, headers={
                "Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "push",
                "X-Hub-Signature-256": sign(SECRET, body)})
            assert (answer.status_code, answer.json()["triggered"]) == (202, triggered)
    assert controller.pushes == ["webhook:push"]


async def test_gitlab_s_token_opens_the_hook_and_a_wrong_one_does_not(base: str, controller: Controllerish) -> None:
    # GitLab signs nothing: it sends the secret itself in X-Gitlab-Token (docs.gitlab.com, "Webhooks",
    # "Validate payloads by using a secret token"). Before, every GitLab delivery was refused with a secret.
    gitlab = {"X-Gitlab-Event": "Push Hook", "Content-Type": "application/json"}
    async with httpx.AsyncClient() as http:
        wrong = await http.post(f"{base}/hooks/git", content=PUSH, headers={**gitlab, "X-Gitlab-Token": "guess"})
        assert wrong.status_code == 401 and "guess" not in wrong.text and SECRET.decode() not in wrong.text
        other = json.dumps({"object_kind": "push", "ref": "refs/heads/feature"}).encode()
        ignored = await http.post(f"{base}/hooks/git", content=other,
                                  headers={**gitlab, "X-Gitlab-Token": SECRET.decode()})
        assert (ignored.status_code, ignored.json()["triggered"]) == (202, False)
        good = await http.post(f"{base}/hooks/git", content=PUSH, headers={**gitlab, "X-Gitlab-Token": SECRET.decode()})
        assert (good.status_code, good.json()) == (202, {"triggered": True})
        # A delivery that carries a signature is judged by it alone: a right token does not save a wrong one.
        both = await http.post(f"{base}/hooks/git", content=PUSH, headers={
            "X-Gitlab-Token": SECRET.decode(), "X-Hub-Signature-256": sign(b"other", PUSH)})
        assert both.status_code == 401
    assert controller.pushes == ["webhook:push"]


async def test_gitea_s_json_delivery_is_verified_by_its_github_header(base: str, controller: Controllerish) -> None:
    # Gitea (services/webhook/deliver.go, Deliver) sends X-Gitea-Signature (bare hex) and, over the same
    # JSON body, X-Hub-Signature-256 and X-GitHub-Event.
    signature = sign(SECRET, PUSH)
    headers = {"Content-Type": "application/json", "X-Gitea-Event": "push", "X-GitHub-Event": "push",
               "X-Gitea-Signature": signature.removeprefix("sha256="), "X-Hub-Signature-256": signature}
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{base}/hooks/git", content=PUSH, headers=headers)
    assert (answer.status_code, controller.pushes) == (202, ["webhook:push"])
