"""docs/spec.md's `autoscale` example loads as written, inside an app of a spec tree (so the app rules,
which refuse what the controller cannot read, run on it too)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

from reconciler.core.autoscale_policy import MetricKind
from reconciler.spec import load_desired

DOC = Path(__file__).resolve().parents[3] / "docs" / "spec.md"


def example() -> str:
    section = DOC.read_text().split("### Autoscale", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert match is not None, "docs/spec.md's Autoscale section has no yaml example"
    return match.group(1)


def test_the_documented_autoscale_block_loads(tmp_path: Path) -> None:
    app = "apps:\n  web:\n    cmd: serve\n" + textwrap.indent(example(), "    ")
    (tmp_path / "shop.yaml").write_text(f"apiVersion: reconciler/v1\nkind: Environment\nname: shop\n{app}")
    policy = load_desired(tmp_path).apps["/shop/web"].autoscale
    assert policy is not None and (policy.min_instances, policy.max_instances) == (2, 8)
    assert [m.kind for m in policy.metrics] == [MetricKind.CPU, MetricKind.MEM, MetricKind.PROMETHEUS]
