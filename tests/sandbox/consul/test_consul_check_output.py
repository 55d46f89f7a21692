"""Check outputs checked against hashicorp/consul's source (agent/checks/check.go): what a TTL update
keeps of a long output, what a TTL expiry says, and which part of a long HTTP answer an HTTP check keeps.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp import web

from reconciler.sandbox.consul import ConsulSandbox
from tests.sandbox.consul.fixtures import eventually

OUTPUT_MAX = 4096  # CheckType.OutputMaxSize's default


async def check_of(http: httpx.AsyncClient, sandbox: ConsulSandbox, check_id: str) -> dict[str, str]:
    checks = (await http.get(f"{sandbox.url}/v1/agent/checks")).json()
    return dict(checks.get(check_id, {"Status": "absent", "Output": ""}))


async def register_ttl(http: httpx.AsyncClient, sandbox: ConsulSandbox, ttl: str) -> None:
    body = {"Name": "beat", "ID": "beat", "TTL": ttl}
    assert (await http.put(f"{sandbox.url}/v1/agent/check/register", json=body)).status_code == 200


async def test_a_ttl_update_keeps_the_first_4096_bytes_of_its_output_and_says_what_it_cut(
    consul_sandbox: ConsulSandbox, http: httpx.AsyncClient
) -> None:
    # CheckTTL.SetStatus: `if total > c.OutputMaxSize { output = fmt.Sprintf("%s ... (captured %d of %d
    # bytes)", output[:c.OutputMaxSize], c.OutputMaxSize, total) }`; the same for pass/warn/fail `?note=`.
    await register_ttl(http, consul_sandbox, "24h")
    long = "a" * OUTPUT_MAX + "tail"
    body = {"Status": "warning", "Output": long}
    assert (await http.put(f"{consul_sandbox.url}/v1/agent/check/update/beat", json=body)).status_code == 200
    check = await check_of(http, consul_sandbox, "beat")
    assert check["Status"] == "warning"
    assert check["Output"] == "a" * OUTPUT_MAX + f" ... (captured {OUTPUT_MAX} of {OUTPUT_MAX + 4} bytes)"
    passed = await http.put(f"{consul_sandbox.url}/v1/agent/check/pass/beat", params={"note": "b" * 5000})
    assert passed.status_code == 200
    check = await check_of(http, consul_sandbox, "beat")
    assert check["Output"] == "b" * OUTPUT_MAX + f" ... (captured {OUTPUT_MAX} of 5000 bytes)"
    short = {"Status": "passing", "Output": "fine"}
    assert (await http.put(f"{consul_sandbox.url}/v1/agent/check/update/beat", json=short)).status_code == 200
    assert (await check_of(http, consul_sandbox, "beat"))["Output"] == "fine"


async def test_a_ttl_expiry_repeats_the_last_output_set(consul_sandbox: ConsulSandbox, http: httpx.AsyncClient) -> None:
    # CheckTTL.run on the timer: UpdateCheck(critical, c.getExpiredOutput()), which is "TTL expired" alone
    # when no output was ever set, else "TTL expired (last output before timeout follows): <lastOutput>".
    await register_ttl(http, consul_sandbox, "10s")  # 0.1 s at the fixture's check scale
    assert (await http.put(f"{consul_sandbox.url}/v1/agent/check/pass/beat", params={"note": "all good"})).text == ""
    expired = await eventually(
        lambda: check_of(http, consul_sandbox, "beat"), lambda c: c["Status"] == "critical", timeout=10.0
    )
    assert expired["Output"] == "TTL expired (last output before timeout follows): all good"


class LongAnswer:
    """A loopback listener answering 200 with a body longer than OutputMaxSize."""

    body = "H" * 100 + "x" * OUTPUT_MAX + "END"

    async def health(self, request: web.Request) -> web.Response:
        return web.Response(text=self.body)

    async def start(self) -> str:
        app = web.Application()
        app.router.add_get("/health", self.health)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        return f"http://127.0.0.1:{self.runner.addresses[0][1]}/health"


@pytest.fixture
async def long_answer() -> AsyncIterator[str]:
    listener = LongAnswer()
    url = await listener.start()
    yield url
    await listener.runner.cleanup()


async def test_an_http_check_keeps_the_last_4096_bytes_of_a_long_answer(
    consul_sandbox: ConsulSandbox, http: httpx.AsyncClient, long_answer: str
) -> None:
    # CheckHTTP.check: `output, _ := circbuf.NewBuffer(int64(c.OutputMaxSize)); io.Copy(output, resp.Body)`;
    # a circbuf.Buffer keeps the last N bytes written (older data is overwritten).
    body = {"Name": "long", "ID": "long", "HTTP": long_answer, "Interval": "10s"}
    assert (await http.put(f"{consul_sandbox.url}/v1/agent/check/register", json=body)).status_code == 200
    check = await eventually(
        lambda: check_of(http, consul_sandbox, "long"), lambda c: c["Status"] == "passing", timeout=10.0
    )
    output = check["Output"]
    assert output.startswith(f"HTTP GET {long_answer}: 200 OK Output: ")
    kept = output.split(" Output: ", 1)[1]
    assert kept == ("x" * OUTPUT_MAX + "END")[-OUTPUT_MAX:]
