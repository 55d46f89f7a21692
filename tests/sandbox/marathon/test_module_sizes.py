"""The Marathon sandbox's modules stay within the style guide's ~400 lines (sandbox layer tests)."""

from __future__ import annotations

from pathlib import Path

import reconciler.sandbox.marathon as sandbox_package

MAX_LINES = 400


def test_every_sandbox_module_stays_under_the_style_guides_size() -> None:
    root = Path(sandbox_package.__file__).parent
    sizes = {str(path.relative_to(root)): len(path.read_text().splitlines()) for path in root.rglob("*.py")}
    assert len(sizes) > 20
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}
