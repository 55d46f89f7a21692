"""Docs describe only what runs, and each example in them is exercised by a test.

Every fenced block of README.md and docs/*.md is listed in EXERCISED with the test that runs it (a block
nobody lists fails here, so a new example comes with its test); the tests named must exist. The
examples whose checks live here: every `reconciler ...` line (a command that exists, flags it accepts),
the spec documents and app entries (they load, with the shipped charts), the Python snippets (they run),
the benchmark command lines not parsed elsewhere, and the README's quick start.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import typer

from reconciler.cli.main import app as cli_app
from reconciler.spec import load_desired

PROJECT = Path(__file__).resolve().parents[2]
DOCS = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
HERE = "tests/unit/test_docs_examples.py"


class Block(NamedTuple):
    doc: str  # relative to the project
    line: int  # of the opening fence
    language: str
    text: str

    @property
    def key(self) -> str:
        return f"{self.doc}: {self.text.splitlines()[0].strip()}"


def fenced_blocks() -> list[Block]:
    blocks = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for found in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
            line = text.count("\n", 0, found.start()) + 1
            blocks.append(Block(str(doc.relative_to(PROJECT)), line, found.group(1), found.group(2)))
    return blocks


def block(key: str) -> Block:
    [found] = [b for b in fenced_blocks() if b.key == key]
    return found


# Each block (its document and first line) -> the test that exercises it.
EXERCISED = {
    "README.md: scripts/run": f"{HERE}::test_the_quick_start_runs_the_controller_on_the_example_specs",
    "README.md: scripts/test": f"{HERE}::test_every_block_is_exercised_by_a_test_that_exists",  # this suite itself
    "docs/approvals.md: apiVersion: reconciler/v1": "tests/e2e/test_cli_approve.py::doc_spec",
    "docs/approvals.md: event=approval-pending env=prod plan=3f2a9c01 digest=60f82b8c6ea7d6fe revision=5d1c0e7b2a44 "
    "actions=1": "tests/e2e/test_approval_heal.py::test_healing_goes_on_while_a_plan_awaits_approval",
    "docs/approvals.md: event=approval-applied-elsewhere env=prod plan=5b0d7e21 by=alice@laptop "
    "until=2026-12-07T03:55:21+00:00": "tests/e2e/test_approval_races.py::test_the_controller_leaves_the_environment_"
    "to_an_approve_sending_its_writes",
    "docs/approvals.md: $ reconciler apply specs --database history.db": "tests/e2e/test_cli_approve.py::AWAITS",
    "docs/approvals.md: $ reconciler approve prod cfc46090 --database history.db":
        "tests/e2e/test_approval_races.py::doc_line",
    "docs/approvals.md: $ reconciler approve prod 5b0d7e21 --database history.db --leader-key "
    "service/marathon-reconciler/leader-prod":
        "tests/e2e/test_approve_ownership.py::test_apply_sees_a_controller_at_another_key_and_approve_hands_the_"
        "approval_to_it",
    "docs/approvals.md: $ reconciler approve prod 5b0d7e21 --database history.db --leader-key "
    "service/marathon-reconciler/leader-prod --force":
        "tests/e2e/test_approval_races.py::test_the_controller_marking_a_forced_approval_first_keeps_its_word_and_"
        "approve_says_so",
    "docs/approvals.md: $ reconciler approve prod a423034e --database history.db":
        "tests/e2e/test_approval_races.py::test_a_plan_superseded_while_approve_checks_it_is_not_approved_nor_sent",
    "docs/approvals.md: $ reconciler approve prod 5b0d7e21 --database history.db":
        "tests/e2e/test_approval_races.py::test_an_approve_reading_marathon_after_anothers_writes_says_who_approved_"
        "and_records_no_plan",
    "docs/architecture.md: spec tree (folder or git checkout)": f"{HERE}::test_the_python_names_the_docs_use_exist",
    "docs/autoscaling.md: reconciler run specs/                                   # cpu and mem from the agents "
    "on port 5051": f"{HERE}::test_every_reconciler_command_line_names_a_command_and_flags_it_accepts",
    "docs/autoscaling.md: web:": f"{HERE}::test_the_app_entries_load_inside_an_environment",
    "docs/autoscaling.md: scrape_configs:": "tests/e2e/test_autoscale_prometheus_consul.py::test_the_scrape_config_"
    "and_flags_are_the_ones_docs_autoscaling_md_shows",
    "docs/autoscaling.md: prometheus --config.file=prometheus.yml --web.enable-remote-write-receiver":
        "tests/e2e/test_autoscale_prometheus_consul.py::test_the_scrape_config_and_flags_are_the_ones_docs_"
        "autoscaling_md_shows",
    "docs/autoscaling.md: reconciler autoscale simulate load.yaml          # one line per step":
        "tests/e2e/test_cli_autoscale.py::test_json_output_has_exactly_the_documented_fields",
    "docs/autoscaling.md: policy:                              # the spec's autoscale block":
        "tests/e2e/test_cli_autoscale.py::test_the_documented_example_prints_what_the_doc_shows",
    "docs/autoscaling.md: at=0 instances=4 recommended=4 limitedBy=- cpu=90/50->4 | cpu above target: 2 -> 4":
        "tests/e2e/test_cli_autoscale.py::test_the_documented_example_prints_what_the_doc_shows",
    "docs/autoscaling.md: $ reconciler autoscale simulate --from-history /shop/web --since 1h --database history.db":
        "tests/e2e/test_autoscale_replay.py::test_replaying_the_recorded_samples_decides_what_the_controller_decided",
    "docs/controller.md: 2026-12-06T23:50:01.123Z action env=func-1 app=/func-1/redis create /func-1/redis "
    "succeeded: not in Marathon": "tests/e2e/test_cli_history.py::test_every_event_one_line_oldest_first",
    "docs/controller.md: error: the database's schema is at version 10, newer than this reconciler knows (9), "
    "and compatible from version 10 only (hint: upgrade the reconciler to one that knows schema version 10 or "
    "later: an older one must not write to a newer schema; a rollback to a version before 10 needs the database "
    "as it was before that upgrade)":
        "tests/e2e/test_cli_store_faults.py::test_a_newer_store_compatible_from_a_later_version_names_both_and_the_fix",
    "docs/dns.md: warning: specs/plain.yaml:3: environment 'plain' has no `dns`: its containers get no "
    "`dns-search plain.query.consul`, so bare app names (`redis`) will not resolve in them (hint: add "
    "`dns: {domain: consul}` (docs/dns.md), or have callers ask for `<app>.plain.query.consul`)":
        "tests/unit/spec/test_spec_notices.py::test_validate_and_render_print_the_warning_on_stderr_and_exit_0",
    "docs/dns.md: dig +search SRV user-api          # in a container of integration (the sandbox's agents are "
    "127.0.0.x)": "tests/e2e/test_service_discovery.py::test_a_caller_reaches_its_peer_through_the_srv_record_of_"
    "its_bare_name",
    "docs/dns.md: scripts/run                                        # reconciler run specs --sandbox":
        "tests/e2e/test_consul_dns.py::test_dns_isolation_and_fallback_over_real_dns",
    "docs/notifications.md: {": "tests/unit/engine/test_notify.py::test_the_documented_examples_are_what_the_"
    "notifier_posts",
    "docs/notifications.md: [FIRING critical] invalid-commit: commit 4b1c0e9a7d2f of "
    "https://git.example/specs.git#main:specs is invalid (1 problem); 9e2d41c07a1b stays in force":
        "tests/unit/engine/test_notify.py::test_the_documented_examples_are_what_the_notifier_posts",
    "docs/performance.md: .venv/bin/python -m tests.bench.bench_scale --sizes 1000,5000,10000 --deploy-size 0 "
    "--idle-seconds 30 --size-budget 1500":
        "tests/e2e/test_bench_sandbox_process.py::test_the_documented_bench_scale_commands_parse",
    "docs/performance.md: .venv/bin/python -m tests.bench.bench_scale --sizes 1000 --consul both --deploy-size 0 "
    "--idle-seconds 30 --size-budget 600":
        "tests/e2e/test_bench_sandbox_process.py::test_the_documented_bench_scale_commands_parse",
    "docs/performance.md: flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_cycle record --apps 10000":
        "tests/e2e/test_bench_sandbox_process.py::test_the_documented_bench_cycle_commands_parse",
    "docs/performance.md: flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_one_change --apps 10000":
        "tests/e2e/test_bench_sandbox_process.py::test_the_documented_bench_one_change_commands_parse",
    "docs/performance.md: flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_cycle measure --apps "
    "10000 --rounds 5": "tests/e2e/test_bench_sandbox_process.py::test_the_documented_bench_cycle_commands_parse",
    "docs/performance.md: flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_store 22000 --postgres URL":
        "tests/e2e/test_store_postgres.py::test_the_documented_store_benchmark_runs_on_both_backends",
    "docs/performance.md: .venv/bin/python -m tests.bench.bench_controller --runs 9 --poll-interval 2 --apps 1000 "
    "--idle-seconds 60": f"{HERE}::test_the_controller_and_validate_benchmark_commands_parse",
    "docs/performance.md: flock /work/wt/bench.lock .venv/bin/python -m tests.bench.bench_startup --runs 9":
        f"{HERE}::test_the_controller_and_validate_benchmark_commands_parse",
    "docs/plan-apply.md: integration": "tests/unit/cli/test_plan_view.py::test_each_environment_is_headed_once_with_"
    "its_marathon_then_its_consul_lines",
    "docs/plan-apply.md: shop": "tests/e2e/test_secrets_in_specs.py::test_secrets_in_specs_reach_no_output_and_plans_"
    "still_show_their_changes",
    "docs/plan-apply.md: error: specs/functional.yaml:16: sets.func-2.imgae: unknown key 'imgae' (hint: known keys "
    "here: approval, apps, dns, group, values)":
        "tests/e2e/test_cli_env_scope.py::test_env_fails_on_another_environments_problem_and_says_why",
    "docs/sandbox-consul.md: from reconciler.sandbox.consul import ConsulSandbox, ConsulSandboxConfig":
        f"{HERE}::test_the_python_examples_run",
    "docs/sandbox-consul.md: from tests.sandbox.consul.fixtures import consul_sandbox, consul_sandbox_factory, "
    "eventually  # noqa: F401": f"{HERE}::test_the_python_examples_run",
    "docs/sandbox.md: reconciler sandbox up [--host 127.0.0.1] [--marathon-port 8080] [--consul-port 8500] "
    "[--dns-port 8600] \\": f"{HERE}::test_every_reconciler_command_line_names_a_command_and_flags_it_accepts",
    "docs/sandbox.md: Marathon sandbox: http://127.0.0.1:8080  (3 agents, runtime simulated)":
        "tests/sandbox/marathon/test_cli.py::test_up_prints_the_urls_answers_and_stops_on_sigterm",
    "docs/sandbox.md: from reconciler.sandbox.marathon import MarathonSandbox, MarathonSandboxConfig":
        f"{HERE}::test_the_python_examples_run",
    "docs/sandbox.md: from tests.sandbox.marathon.fixtures import marathon_sandbox, fast_config, until  # noqa: F401":
        f"{HERE}::test_the_python_examples_run",
    'docs/sandbox.md: [{"executor_id": "web.instance-1f0c..._app.1", "executor_name": "Command Executor (Task: '
    "web.instance-1f0c..._app.1) (Command: sh -c '...')\",":
        "tests/sandbox/marathon/test_agent_statistics.py::test_every_agent_serves_its_own_tasks_statistics_in_the_"
        "mesos_shape",
    "docs/sandbox.md: curl -X PUT  $M/_sandbox/faults -d '{\"latencyMs\": 200}'            # every API answer "
    "200 ms late": "tests/sandbox/marathon/test_faults_and_events.py::test_latency_errors_freeze_state_and_reset",
    "docs/spec.md: reconciler validate specs                 # every problem at once; exit 0 valid, 3 invalid":
        f"{HERE}::test_every_reconciler_command_line_names_a_command_and_flags_it_accepts",
    "docs/spec.md: apiVersion: reconciler/v1": f"{HERE}::test_the_spec_documents_load",
    "docs/spec.md: user-api:": f"{HERE}::test_the_app_entries_load_inside_an_environment",
    "docs/spec.md: orders-api:": "tests/unit/spec/test_spec_secrets.py::test_the_documented_app_renders_marathons_"
    "secrets_and_env_secret_reference",
    "docs/spec.md: specs/shop.yaml:14: apps.orders-api.env.DB_PASSWORD.secret: env DB_PASSWORD: secret 'db-pasword' "
    "is not declared in the app's `secrets` (hint: did you mean 'db-password', or declare it: `secrets: {db-pasword: "
    "{source: <path in the secret store>}}`)": "tests/unit/spec/test_spec_secrets.py::test_validate_prints_the_"
    "documented_problem",
    "docs/spec.md: autoscale:": "tests/unit/spec/test_autoscale_doc_example.py::test_the_documented_autoscale_block_"
    "loads",
    "docs/spec.md: charts/java-service/": "tests/unit/spec/test_chart_includes.py::test_an_included_file_renders_"
    "inside_the_app_and_no_app_of_its_own",
    "docs/spec.md: specs/integration.yaml:12: apps.web.imgae: unknown key 'imgae' (hint: did you mean 'image'?)":
        f"{HERE}::test_validate_prints_the_documented_problems",
    "docs/spec.md: from reconciler.spec import load_specs, render_desired, load_desired, spec_json_schema":
        f"{HERE}::test_the_python_examples_run",
    "docs/status.md: $ reconciler status --env shop":
        "tests/e2e/test_status_rollback.py::test_status_without_a_controller_reads_the_store_and_observes",
    "docs/status.md: $ reconciler rollback shop --to 3f2a9c1e":
        "tests/e2e/test_status_rollback.py::test_rollback_holds_against_the_controller_until_resume",
}


def test_every_block_is_exercised_by_a_test_that_exists() -> None:
    keys = [b.key for b in fenced_blocks()]
    assert sorted(set(keys) - set(EXERCISED)) == [], "examples without a test: add one and list it in EXERCISED"
    assert sorted(set(EXERCISED) - set(keys)) == [], "EXERCISED lists examples the docs no longer show"
    for test in set(EXERCISED.values()):
        path, name = test.split("::")
        source = (PROJECT / path).read_text(encoding="utf-8")
        assert re.search(rf"^(async def|def) {name}\(|^{name} = ", source, re.M), f"{test} does not exist"


# --- `reconciler ...` lines: the command exists, every flag is one it (or the global options) accepts

def _options(command: Any) -> set[str]:
    return {opt for param in command.params if param.param_type_name == "option"
            for opt in (*param.opts, *param.secondary_opts)}


def documented_command_lines() -> Iterator[tuple[str, str]]:
    """Every `reconciler ...` of the docs: in code spans, and lines of code blocks (`$ ` prompts too)."""
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for found in re.finditer(r"(?:^\$ |`|^)(reconciler [^`\n]*)", text, re.M):
            where = f"{doc.relative_to(PROJECT)}:{text.count(chr(10), 0, found.start()) + 1}"
            yield where, found.group(1).split("  #")[0].split(" > ")[0]


def test_every_reconciler_command_line_names_a_command_and_flags_it_accepts() -> None:
    root = typer.main.get_command(cli_app)
    lines = list(documented_command_lines())
    assert len(lines) > 50
    for where, line in lines:
        words = line.replace("[", " ").replace("]", " ").replace("|", " ").replace("\\", " ").split()[1:]
        if not words or not re.fullmatch(r"[a-z-]+", words[0]):
            continue  # prose: "reconciler registered ..." is not a command line
        command, at, accepted = root, 0, _options(root) | {"--help"}  # click gives every command --help
        while at < len(words) and words[at].startswith("-"):
            at += 1
        while hasattr(command, "list_commands") and at < len(words):
            found = command.get_command(root.context_class(command), words[at])
            if found is None:
                break
            command, at = found, at + 1
            accepted |= _options(command)
        if command is root and at < len(words):  # global options alone (`reconciler --help`) are checked below
            assert words[0] in ("registered",), f"{where}: `{line}` names no command"
            continue
        for word in words:
            flag = word.split("=")[0].rstrip(",.;:")
            if re.fullmatch(r"--?[a-z][a-z0-9-]*(/--?[a-z][a-z0-9-]*)?", flag):
                for part in flag.split("/"):
                    assert part in accepted, f"{where}: `{line}`: {command.name} has no {part}"


# --- spec documents and app entries

def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    shutil.copytree(PROJECT / "charts", tmp_path / "charts")
    (tmp_path / "specs").mkdir()
    for name, text in files.items():
        (tmp_path / "specs" / name).write_text(text, encoding="utf-8")
    return tmp_path / "specs"


def test_the_spec_documents_load(tmp_path: Path) -> None:
    environment, functional = [b.text for b in fenced_blocks() if b.key == "docs/spec.md: apiVersion: reconciler/v1"]
    desired = load_desired(_tree(tmp_path / "a", {"integration.yaml": environment}))
    assert sorted(desired.apps) == ["/integration/redis", "/integration/worker"]
    # The functional sets run over the example integration environment, which has the apps they name.
    integration = (PROJECT / "specs" / "integration.yaml").read_text(encoding="utf-8")
    desired = load_desired(_tree(tmp_path / "b", {"integration.yaml": integration, "functional.yaml": functional}))
    assert {"/func-1/user-api", "/func-1/redis", "/func-1/mock-payments", "/func-2/web"} <= set(desired.apps)
    assert desired.apps["/func-1/user-api"].definition["container"]["docker"]["image"].endswith(":feature-login")


@pytest.mark.parametrize("key", ["docs/spec.md: user-api:", "docs/autoscaling.md: web:"])
def test_the_app_entries_load_inside_an_environment(tmp_path: Path, key: str) -> None:
    others = "  mysql: {chart: datastore, values: {kind: mysql}}\n  redis: {chart: datastore, values: {kind: redis}}\n"
    spec = ("apiVersion: reconciler/v1\nkind: Environment\nname: shop\napps:\n"
            + textwrap.indent(block(key).text, "  ") + others)
    name = block(key).text.split(":", 1)[0]
    app = load_desired(_tree(tmp_path, {"shop.yaml": spec})).apps[f"/shop/{name}"]
    assert app.autoscale is not None


def test_validate_prints_the_documented_problems(tmp_path: Path) -> None:
    """docs/spec.md's `validate` output, from the example tree given the doc's five mistakes (the lines differ:
    the doc's tree is shorter)."""
    from typer.testing import CliRunner

    shutil.copytree(PROJECT / "specs", tmp_path / "specs")
    shutil.copytree(PROJECT / "charts", tmp_path / "charts")
    _edit(tmp_path / "specs/integration.yaml", ("values: {kind: redis}", "values: {kind: redsi}"),
          ("  web:\n", "  web:\n    imgae: x\n"),
          ('      image: user-api\n      tag: "1.4.2"\n', "      image: user-api\n"))
    _edit(tmp_path / "specs/functional.yaml", ("base: integration", "base: integraton"))
    _edit(tmp_path / "charts/java-service/values.yaml", ("tag: latest\n", ""))
    _edit(tmp_path / "charts/web/templates/web.yaml", ("values.port }}\"\n  NODE_ENV", "values.prot }}\"\n  NODE_ENV"))
    with contextlib.chdir(tmp_path):
        result = CliRunner().invoke(cli_app, ["validate", "specs"], env={"COLUMNS": "1000"})
    assert result.exit_code == 3, result.output
    printed = [re.match(r"(\S+?):\d+: (.*)", line) for line in result.output.splitlines()]
    documented = block("docs/spec.md: specs/integration.yaml:12: apps.web.imgae: unknown key 'imgae' (hint: did you "
                       "mean 'image'?)").text.splitlines()
    for line in documented:
        doc = re.match(r"(\S+?):\d+: (.*)", line)
        assert doc is not None, line
        assert [p for p in printed if p and p.group(1) == doc.group(1) and p.group(2) == doc.group(2)], line


def _edit(path: Path, *changes: tuple[str, str]) -> None:
    text = path.read_text(encoding="utf-8")
    for old, new in changes:
        assert old in text, (path, old)
        text = text.replace(old, new, 1)
    path.write_text(text, encoding="utf-8")


# --- Python

def test_the_python_names_the_docs_use_exist() -> None:
    from reconciler import spec

    text = block("docs/architecture.md: spec tree (folder or git checkout)").text
    for name in re.findall(r"reconciler\.spec\.(\w+)", text):
        assert hasattr(spec, name), name


def test_the_python_examples_run(tmp_path: Path) -> None:
    for key in ("docs/sandbox.md: from reconciler.sandbox.marathon import MarathonSandbox, MarathonSandboxConfig",
                "docs/sandbox-consul.md: from reconciler.sandbox.consul import ConsulSandbox, ConsulSandboxConfig"):
        code = block(key).text
        code = code.replace("...", "await sandbox.wait_idle()")
        body = "async def example() -> None:\n" + textwrap.indent(code, "    ")
        scope: dict[str, Any] = {}
        exec(compile(body, key, "exec"), scope)
        asyncio.run(asyncio.wait_for(scope["example"](), 60))
    for key in ("docs/sandbox.md: from tests.sandbox.marathon.fixtures import marathon_sandbox, fast_config, until"
                "  # noqa: F401", "docs/sandbox-consul.md: from tests.sandbox.consul.fixtures import consul_sandbox, "
                "consul_sandbox_factory, eventually  # noqa: F401"):
        exec(compile(block(key).text, key, "exec"), {})
    code = block("docs/spec.md: from reconciler.spec import load_specs, render_desired, load_desired, "
                 "spec_json_schema").text
    with contextlib.chdir(PROJECT), contextlib.redirect_stdout(io.StringIO()):
        scope = {"Path": Path}
        exec(compile(code, "docs/spec.md", "exec"), scope)
    assert "/func-1/user-api" in scope["desired"].apps and json.dumps(scope["spec_json_schema"]())


# --- benchmarks and the quick start

def test_the_controller_and_validate_benchmark_commands_parse() -> None:
    from tests.bench import bench_controller, bench_startup, bench_validate

    text = (PROJECT / "docs" / "performance.md").read_text(encoding="utf-8")
    for module in (bench_controller, bench_validate, bench_startup):
        name = module.__name__.rsplit(".", 1)[1]
        commands = re.findall(rf"python -m tests\.bench\.{name} ([^`\n]*)", text)
        assert commands, f"docs/performance.md shows no {name} command"
        for command in commands:
            with contextlib.redirect_stderr(io.StringIO()):
                _parse(module, shlex.split(command))


def _parse(module: Any, words: list[str]) -> argparse.Namespace:
    result: argparse.Namespace = module.arguments(words)
    return result


@pytest.mark.slow
def test_the_quick_start_runs_the_controller_on_the_example_specs(tmp_path: Path) -> None:
    """README's `scripts/run` (its extra arguments go to `run`: one cycle, a free port, a private store)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RECONCILER_")}
    ran = subprocess.run(
        [str(PROJECT / "scripts" / "run"), "--cycles", "1", "--listen", "127.0.0.1:0",
         "--database", str(tmp_path / "history.db")],
        check=False, capture_output=True, text=True, timeout=300,
        env={**env, "HOME": str(tmp_path), "COLUMNS": "200"},
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "controller stopped after 1 cycle(s)." in ran.stdout + ran.stderr
