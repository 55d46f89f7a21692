"""How a plan reads in a terminal (face layer): counts in the right number, Consul lines per app."""

from __future__ import annotations

from reconciler.cli.output import scrubbed
from reconciler.cli.plan_view import change_lines, counted, plan_lines, state_lines, summary_line
from reconciler.core.model import Action, ActionKind, FieldChange, Outcome, Plan


def register(task: str, app: str = "redis") -> Action:
    return Action(kind=ActionKind.REGISTER, target=task, reason="running without a registration", env="int",
                  body={"ID": task, "Name": app})


QUERY = Action(kind=ActionKind.QUERY_CREATE, target="redis.int", reason="redis in int resolves to int", env="int",
               body={"Name": "redis.int", "Service": {"Service": "redis"}})
WARN = Action(kind=ActionKind.WARN, target="x", reason="not ours", env="int", outcome=Outcome.REFUSED)


def test_counts_are_pluralised() -> None:
    assert [counted(1, "warning"), counted(2, "warning"), counted(1, "query to create", "queries to create")] == [
        "1 warning", "2 warnings", "1 query to create"]
    one = summary_line(Plan(actions=(register("int_redis.1"), QUERY, WARN)), title="Plan")
    assert "1 to register, 1 query to create" in one and "1 warning." in one and "warnings" not in one
    two = summary_line(Plan(actions=(register("a"), register("b"), QUERY, QUERY, WARN, WARN)), title="Plan")
    assert "2 queries to create" in two and "2 warnings." in two


def test_consul_lines_collapse_to_one_per_app_unless_verbose() -> None:
    actions = [register("int_redis.1"), register("int_redis.2"), QUERY, register("int_web.1", app="web")]
    collapsed = plan_lines(actions, verbose=False)
    assert len(collapsed) == 3  # the environment, then one line per app
    assert "redis[/] consul" in collapsed[1] and "2 to register, 1 query to create" in collapsed[1]
    assert "web[/] consul" in collapsed[2] and "1 to register" in collapsed[2]
    assert len(plan_lines(actions, verbose=True)) == 5
    failed = Action(kind=ActionKind.REGISTER, target="int_redis.3", reason="r", env="int", outcome=Outcome.FAILED,
                    body={"Name": "redis"}, detail="Consul answered 500")
    assert any("Consul answered 500" in line for line in plan_lines([*actions, failed], verbose=False))


def test_orphans_and_running_deployments_are_named_and_never_called_a_match() -> None:
    plan = Plan(prunable=("/int/a", "/int/b"), progressing=("/int/c",))
    assert "no changes without" not in summary_line(plan, title="Plan")
    assert "match" not in summary_line(plan, title="Plan") and "Progressing" in summary_line(plan, title="Plan")
    lines = state_lines(plan)
    assert "2 apps would be deleted with --prune:[/] /int/a, /int/b" in lines[0]
    assert "still changes /int/c" in lines[1]
    assert "no changes without --prune" in summary_line(Plan(prunable=("/int/a",)), title="Plan")
    assert "1 app would be deleted" in state_lines(Plan(prunable=("/int/a",)))[0]


def test_each_environment_is_headed_once_with_its_marathon_then_its_consul_lines() -> None:
    # The planner lists Marathon actions of every environment, then Consul's: the plan printed each
    # environment's header twice, its apps in one block and its queries in another far below.
    def create(env: str, app: str) -> Action:
        return Action(kind=ActionKind.CREATE, target=f"/{env}/{app}", reason="not in Marathon", env=env)

    def query(env: str, app: str) -> Action:
        return Action(kind=ActionKind.QUERY_CREATE, target=f"{app}.{env}", reason="r", env=env,
                      body={"Name": f"{app}.{env}", "Service": {"Service": app}})

    actions = [create("b", "web"), create("a", "db"), query("b", "web"), query("a", "db"), query("a", "web")]
    lines = plan_lines(actions, verbose=False)
    headers = [line for line in lines if line.startswith("[bold]")]
    assert headers == ["[bold]b[/]", "[bold]a[/]"]
    assert ["/b/web" in lines[1], "web[/] consul" in lines[2]] == [True, True]
    assert ["/a/db" in lines[4], "db[/] consul" in lines[5], "web[/] consul" in lines[6]] == [True, True, True]
    assert len(lines) == 7


def test_a_long_value_is_cut_after_its_secrets_are_masked() -> None:
    """A value longer than a line is cut at 80 characters: cut before its `@`, a URL's password would no longer
    look like userinfo to the output's scrubbing, so the masking comes first."""
    url = "https://deploy:Hunter2-Long-Secret-Value@artifacts.example.internal/releases/web/1.4.2/web.tgz"
    action = Action(kind=ActionKind.UPDATE, target="/int/web", reason="spec changed: 1 field", env="int",
                    changes=(FieldChange("/env/ARTIFACT", url.replace("1.4.2", "1.4.1"), url),))
    [line] = change_lines(action)
    assert "Hunter2" not in scrubbed(line) and "https://***@artifacts.example.internal/" in line
