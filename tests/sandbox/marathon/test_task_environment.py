"""The environment a sandbox task starts with, checked against Marathon's source (mesosphere/marathon
v1.9.109, `src/main/scala/mesosphere/mesos/`; these files unchanged but for line breaks on master @ 90619da70d79).

TaskBuilder.commandInfo: `taskContextEnv` (TaskBuilderConstants' names, then
EnvironmentHelper.labelsToEnvVars) ++ (EnvironmentHelper.portsEnv ++ HOST) ++ the app's string `env`
entries (`runSpec.env.collect { case (k, v: EnvVarString) }`: a secret reference is left out), later parts
winning. The docker runtime's container gets that environment; its `cmd` runs with `sh -c` inside it.
"""

from __future__ import annotations

import random
from typing import Any

import httpx
import pytest

from reconciler.sandbox.marathon.task_env import java_double, labels_environment, ports_environment, task_environment
from tests.sandbox.marathon.fixtures import docker_marathon, until

Json = dict[str, Any]
TASK_ID = "shop_orders.instance-2f0e1c7a-0000-11ee-8000-000000000000._app.1"
VERSION = "2026-12-08T00:00:00.000Z"

APP: Json = {
    "id": "/shop/orders",
    "cmd": "serve",
    "cpus": 0.25,
    "mem": 64.0,
    "disk": 0.0,
    "gpus": 0,
    "portDefinitions": [{"port": 10000, "name": "http"}, {"port": 10001}],
    "labels": {"team": "orders", "com.example/tier": "web"},
    "env": {"GREETING": "hello", "DB_PASSWORD": {"secret": "db-password"}},
}


def test_every_variable_of_a_task_with_port_definitions() -> None:
    env = task_environment(APP, TASK_ID, VERSION, "127.0.0.2", [31001, 31002])
    assert env == {
        # TaskBuilder.taskContextEnv; no MARATHON_APP_DOCKER_IMAGE without a DOCKER container. The
        # resources are a Scala Double's toString ("64.0"), gpus an Int's.
        "MESOS_TASK_ID": TASK_ID,
        "MARATHON_APP_ID": "/shop/orders",
        "MARATHON_APP_VERSION": VERSION,
        "MARATHON_APP_RESOURCE_CPUS": "0.25",
        "MARATHON_APP_RESOURCE_MEM": "64.0",
        "MARATHON_APP_RESOURCE_DISK": "0.0",
        "MARATHON_APP_RESOURCE_GPUS": "0",
        "MARATHON_APP_ENFORCE_GROUP_ROLE": "FALSE",
        "MARATHON_APP_LABELS": "TEAM COM_EXAMPLE_TIER",
        "MARATHON_APP_LABEL_TEAM": "orders",
        "MARATHON_APP_LABEL_COM_EXAMPLE_TIER": "web",
        # EnvironmentHelper.portsEnv: a port definition's requested port is its (service) `port`.
        "PORT0": "31001",
        "PORT1": "31002",
        "PORT_10000": "31001",
        "PORT_10001": "31002",
        "PORT_HTTP": "31001",
        "PORT": "31001",
        "PORTS": "31001,31002",
        "HOST": "127.0.0.2",
        # The app's string entries; the secret reference is no variable without a secrets plugin.
        "GREETING": "hello",
    }


def test_the_apps_own_env_wins_over_marathons_variables() -> None:
    app = {**APP, "env": {"PORT0": "8080", "HOST": "example", "MARATHON_APP_ID": "/other"}}
    env = task_environment(app, TASK_ID, VERSION, "127.0.0.2", [31001, 31002])
    assert (env["PORT0"], env["HOST"], env["MARATHON_APP_ID"]) == ("8080", "example", "/other")


def test_a_docker_container_names_its_image_and_its_mappings_give_the_ports() -> None:
    """Container mappings are the declared ports when there are any (TaskBuilder.commandInfo). PORTS holds
    the host ports and the generated ones only: a fixed container port without host port is in PORT<n> and
    PORT_<n> but not in PORTS (portsEnv's `allAssigned`)."""
    mappings = [
        {"containerPort": 8080, "hostPort": 0, "name": "web"},
        {"containerPort": 9090, "name": "admin"},
        {"containerPort": 0},
    ]
    app = {**APP, "portDefinitions": [], "container": {"type": "DOCKER", "docker": {"image": "nginx:1.25"},
                                                        "portMappings": mappings}}
    env = task_environment(app, TASK_ID, VERSION, "127.0.0.2", [31005], random.Random(7))
    generated = env["PORT2"]
    assert 1025 <= int(generated) <= 65535 and generated not in ("31005", "8080", "9090")
    assert env["MARATHON_APP_DOCKER_IMAGE"] == "nginx:1.25"
    assert {key: value for key, value in env.items() if key.startswith("PORT")} == {
        "PORT0": "31005", "PORT1": "9090", "PORT2": generated,
        "PORT_8080": "31005", "PORT_9090": "9090", f"PORT_{generated}": generated,
        "PORT_WEB": "31005", "PORT_ADMIN": "9090",
        "PORT": "31005", "PORTS": f"31005,{generated}",
    }


def test_a_mesos_container_with_a_docker_image_names_no_image() -> None:
    app = {**APP, "container": {"type": "MESOS", "docker": {"image": "nginx:1.25"}}}
    assert "MARATHON_APP_DOCKER_IMAGE" not in task_environment(app, TASK_ID, VERSION, "127.0.0.2", [31001, 31002])


def test_random_requests_name_the_effective_port_and_no_ports_give_no_port_variables() -> None:
    assert ports_environment([(None, 0)], [31007], random.Random(1)) == {
        "PORT0": "31007", "PORT_31007": "31007", "PORT": "31007", "PORTS": "31007"}
    app = {**APP, "portDefinitions": []}
    env = task_environment(app, TASK_ID, VERSION, "127.0.0.2", [])
    assert not [key for key in env if key.startswith("PORT")] and env["HOST"] == "127.0.0.2"


def test_labels_too_long_are_skipped_and_the_list_is_there_without_labels() -> None:
    """labelsToEnvVars keeps a label when `key.length < 512 - 19` and `value.length < 512`."""
    labels = {"k" * 492: "a", "j" * 493: "b", "short": "v" * 511, "long": "v" * 512, "a.b--c": "x"}
    env = labels_environment(labels)
    assert env["MARATHON_APP_LABELS"].split(" ") == ["K" * 492, "SHORT", "A_B_C"]
    assert env["MARATHON_APP_LABEL_SHORT"] == "v" * 511 and "MARATHON_APP_LABEL_LONG" not in env
    assert labels_environment({}) == {"MARATHON_APP_LABELS": ""}


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.0, "0.0"), (0.1, "0.1"), (128.0, "128.0"), (0.001, "0.001"), (1e7, "1.0E7"), (0.0001, "1.0E-4"),
     (12345678.9, "1.23456789E7"), (9999999.0, "9999999.0")],
)
def test_resources_print_as_java_doubles(value: float, text: str) -> None:
    assert java_double(value) == text


@pytest.mark.docker
async def test_a_docker_task_runs_its_cmd_with_marathons_environment() -> None:
    """The task's `cmd` writes $PORT0, $MARATHON_APP_ID and an app variable into its web root; the file is
    read back over loopback from the port the API lists."""
    app = {
        "id": "/shop/env",
        "cmd": 'echo "$PORT0 $MARATHON_APP_ID $GREETING" > /www/env.txt',  # docs/sandbox.md's example
        "cpus": 0.1,
        "mem": 16,
        "instances": 1,
        "env": {"GREETING": "hello"},
    }
    async with docker_marathon(agents=1) as sandbox, httpx.AsyncClient(base_url=sandbox.url, timeout=30) as api:
        assert (await api.post("/v2/apps", json=app)).status_code == 201
        await sandbox.wait_idle(60)
        [task] = (await api.get("/v2/apps/shop/env/tasks")).json()["tasks"]
        url = f"http://{task['host']}:{task['ports'][0]}/env.txt"

        async def written() -> str | None:
            answer = await api.get(url)
            return answer.text if answer.status_code == 200 else None

        text = await until(written, "the task's cmd wrote its environment", 30)
        assert text.split() == [str(task["ports"][0]), "/shop/env", "hello"]
