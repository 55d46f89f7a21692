"""docs/plan-apply.md lists exactly the keys that `plan -o json` and `apply -o json` emit (face layer)."""

from __future__ import annotations

import re
from pathlib import Path

from reconciler.cli.apply_steps import apply_document
from reconciler.cli.plan_view import Compared
from reconciler.core.export import action_as_dict, plan_as_dict
from reconciler.core.model import Action, ActionKind, FieldChange, Plan
from reconciler.engine.execute import Execution
from reconciler.engine.stuck import Convergence

DOC = Path(__file__).resolve().parents[3] / "docs" / "plan-apply.md"
EVERY_FIELD = Action(
    kind=ActionKind.UPDATE, target="/e/a", reason="spec changed", env="e", changes=(FieldChange("/cpus", 1, 2),),
    instances_from=1, instances_to=2, force=True, detail="deployment d1",
)


def documented_tables() -> list[set[str]]:
    """The key column of each table under `## JSON output`."""
    section = DOC.read_text().split("## JSON output", 1)[1].split("\n## ", 1)[0]
    tables: list[set[str]] = []
    for block in re.split(r"\n\s*\n", section):
        keys = set(re.findall(r"^\| `([a-z_]+)` \|", block, flags=re.MULTILINE))
        if keys:
            tables.append(keys)
    return tables


def test_the_doc_lists_exactly_the_keys_of_plan_and_apply_documents_and_of_an_action() -> None:
    shared, apply_only, action = documented_tables()
    plan = Plan(actions=(EVERY_FIELD,))
    plan_keys = set(plan_as_dict(plan) | Compared().document)
    assert plan_keys == shared
    assert set(apply_document(plan, Execution(plan.actions), Convergence(), Compared())) - plan_keys == apply_only
    assert set(action_as_dict(EVERY_FIELD)) == action
