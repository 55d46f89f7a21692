"""A spec tree in a local folder (sources adapter): its revision identifies its content.

The revision is the git commit when the folder is a clean git checkout, else a content hash of
every spec and chart file (so that the same files always give the same revision).
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

SPEC_SUFFIXES = (".yaml", ".yml", ".j2", ".json")


def folder_revision(root: Path, *, extra: tuple[Path, ...] = ()) -> str:
    """`git:<sha12>` for a clean git checkout, else `sha256:<12 hex>` of the files' content."""
    commit = _clean_git_commit(root)
    if commit:
        return f"git:{commit[:12]}"
    digest = hashlib.sha256()
    for base in (root, *extra):
        for path in sorted(p for p in base.rglob("*") if p.is_file() and p.suffix in SPEC_SUFFIXES):
            digest.update(str(path.relative_to(base)).encode())
            digest.update(path.read_bytes())
    return f"sha256:{digest.hexdigest()[:12]}"


def _clean_git_commit(root: Path) -> str | None:
    try:
        status = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "."],
            capture_output=True, text=True, timeout=10, check=False,
        )
        if status.returncode != 0 or status.stdout.strip():
            return None
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() or None if head.returncode == 0 else None
