"""Constraint values per operator (spec layer): what Marathon refuses is an invalid spec (exit 3) naming the
file, line and constraint, with a hint; the shorthand's trailing colon names no value for every operator.

mesosphere/marathon (master 90619da70, as in v1.10), src/main/scala/mesosphere/marathon/api/v2/validation/
SchedulingValidation.scala, complyWithConstraintRules: UNIQUE refuses any value, the empty one too
(`c.value.fold(Success)(_ => failure(...))`); CLUSTER takes any or none; GROUP_BY none or `toInt`;
MAX_PER needs `toInt`; LIKE and UNLIKE need a value (`c.value.fold(failure(...))`). src/main/scala/mesosphere/
mesos/Constraints.scala checkCluster reads an empty value as none, so `rack:CLUSTER:` loses nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from reconciler.cli.main import app
from tests.unit.spec.spec_tree import HEADER, problems_of, render, write_tree


def spec(constraint: str) -> str:
    return HEADER + f"name: e\napps:\n  web:\n    cmd: run\n    constraints:\n      - {constraint!r}\n"


@pytest.mark.parametrize(
    ("constraint", "message", "hint"),
    [
        ("rack:LIKE:", "LIKE needs a value, a regular expression", "write e.g. `rack:LIKE:rack-[12]`"),
        ("rack:UNLIKE:", "UNLIKE needs a value, a regular expression", "write e.g. `rack:UNLIKE:rack-[12]`"),
        ("rack:LIKE", "LIKE needs a value, a regular expression", "write e.g. `rack:LIKE:rack-[12]`"),
        ("rack:MAX_PER:", "MAX_PER needs an integer value", "write e.g. `rack:MAX_PER:2`"),
        ("rack:MAX_PER:two", "MAX_PER needs an integer value", "write e.g. `rack:MAX_PER:2`"),
        ("rack:GROUP_BY:many", "GROUP_BY takes an integer value or none", "write `rack:GROUP_BY`"),
        ("hostname:UNIQUE:x", "UNIQUE takes no value", "write `hostname:UNIQUE`"),
    ],
)
def test_a_value_marathon_refuses_is_an_invalid_spec_at_its_line(
    tmp_path: Path, constraint: str, message: str, hint: str
) -> None:
    [problem] = problems_of(tmp_path, {"specs/a.yaml": spec(constraint)})
    assert (problem.file, problem.line, problem.field) == (f"{tmp_path}/specs/a.yaml", 8, "apps.web.constraints[0]")
    assert problem.message == message and problem.hint is not None and problem.hint.startswith(hint)


@pytest.mark.parametrize(
    ("constraint", "sent"),
    [
        ("hostname:UNIQUE:", ["hostname", "UNIQUE"]),
        ("rack:CLUSTER:", ["rack", "CLUSTER"]),
        ("rack:GROUP_BY:", ["rack", "GROUP_BY"]),
        ("rack:GROUP_BY:3", ["rack", "GROUP_BY", "3"]),
        ("rack:MAX_PER:+2", ["rack", "MAX_PER", "+2"]),
        ("rack:LIKE:r-1:a", ["rack", "LIKE", "r-1:a"]),
        (["rack", "LIKE", ""], ["rack", "LIKE", ""]),  # the list form says it: Marathon compiles "" as a pattern
    ],
)
def test_what_marathon_accepts_is_sent_as_written(tmp_path: Path, constraint: object, sent: list[str]) -> None:
    text = HEADER + f"name: e\napps:\n  web: {{cmd: run, constraints: [{constraint!r}]}}\n".replace("'", '"')
    assert render(tmp_path, {"specs/a.yaml": text}).apps["/e/web"].definition["constraints"] == [sent]


def test_validate_exits_3_naming_the_file_line_and_hint(tmp_path: Path) -> None:
    specs = write_tree(tmp_path, {"specs/a.yaml": spec("rack:LIKE:")})
    result = CliRunner().invoke(app, ["validate", str(specs)])
    assert result.exit_code == 3, result.output
    assert "specs/a.yaml:8: apps.web.constraints[0]: LIKE needs a" in result.output, result.output
    assert "(hint: write e.g. `rack:LIKE:rack-[12]`" in result.output, result.output
