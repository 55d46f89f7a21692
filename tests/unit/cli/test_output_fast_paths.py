"""Printing a large plan fast gives the same bytes as printing it the slow way (face layer).

`print_lines` prints markup lines in one call instead of one call per line; `print_json_document`
writes JSON into a pipe or file without Rich's highlighting. Both are compared with what Rich printed
before, on content that exercises markup escapes, emoji codes, non-ASCII text and odd JSON values.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from reconciler.cli.output import console, print_json_document, print_lines
from reconciler.cli.plan_view import plan_lines, state_lines
from reconciler.core.model import Action, ActionKind, FieldChange, Outcome, Plan

TRICKY = ["[bold]not markup[/]", "back\\slash\\[x]", "emoji :100: and :smile:", "ünï [red]cödé", "tab\tend", ""]


def tricky_actions() -> list[Action]:
    actions = []
    for index, text in enumerate(TRICKY):
        changes = (FieldChange("/cmd", text, f"{text}!"), FieldChange("/labels", {"k": text}, None))
        actions.append(Action(ActionKind.UPDATE, f"/int/app-{index}", text or "r", env=f"env-{index % 2}",
                              changes=changes, body={"id": f"/int/app-{index}", "cmd": text}))
        actions.append(Action(ActionKind.REGISTER, f"app-{index}.1", "running", env=f"env-{index % 2}",
                              body={"Name": f"app{text}"}))
        actions.append(Action(ActionKind.CREATE, f"/int/new-{index}", "missing", env=f"env-{index % 2}",
                              outcome=Outcome.REFUSED, detail=text))
    return actions


def printed(capsys: pytest.CaptureFixture[str], show: Any) -> str:
    capsys.readouterr()
    show()
    return capsys.readouterr().out


def test_plan_lines_print_the_same_in_one_call_as_line_by_line(capsys: pytest.CaptureFixture[str]) -> None:
    plan = Plan(tuple(tricky_actions()), prunable=("/int/gone[1]",), progressing=("/int/x",))
    for lines in (plan_lines(plan.actions, verbose=False), plan_lines(plan.actions, verbose=True), state_lines(plan)):
        one_by_one = printed(capsys, lambda lines=lines: [console.print(line, soft_wrap=True) for line in lines])
        assert printed(capsys, lambda lines=lines: print_lines(lines)) == one_by_one
        assert one_by_one.count("\n") == len(lines) > 0
    assert printed(capsys, lambda: print_lines([])) == ""


DOCUMENTS: list[Any] = [
    {"actions": [{"target": text, "changes": [{"path": "/x", "actual": text, "desired": None}]} for text in TRICKY]},
    {"floats": [0.1, 1e300, -0.0, 3.0, math.inf, -math.inf], "ints": [2**70, -1], "empty": {}, "list": []},
    {"non-string keys": {1: "one", False: "no", None: "none", 2.5: "x"}, "tuple": (1, 2), "set-like": {"a"}},
    {"unicode": "ü € 漢字 \u2028 \u007f", "escapes": "\"quoted\" \\ \n \u0001", "nested": [[[{"a": [{}]}]]]},
    [],
    "just text",
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=range(len(DOCUMENTS)))
def test_a_json_document_prints_as_rich_printed_it(document: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert not console.is_terminal
    rich = printed(capsys, lambda: console.print_json(json.dumps(document, default=str)))
    assert printed(capsys, lambda: print_json_document(document)) == rich
