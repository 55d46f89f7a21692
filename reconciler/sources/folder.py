"""A spec tree in a local folder (sources adapter): its revision identifies its content.

The revision is the git commit when the folder is a clean git checkout, else a content hash of
every spec and chart file (so that the same files always give the same revision). Hidden files and
folders (`.git`, editor lock and swap files) take no part in it.
"""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from reconciler.errors import SpecError, SpecProblem
from reconciler.sources.base import Checkout

SPEC_SUFFIXES = (".yaml", ".yml", ".j2", ".json")


class FolderSource:
    """Specs read in place from a folder (or one file); each fetch recomputes the revision."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def fetch(self) -> Checkout:
        """The folder as it is; a missing or empty tree is left for the spec loader to report."""
        return Checkout(self.root, folder_revision(self.root))

    def describe(self) -> str:
        return str(self.root)

    def close(self) -> None:
        """Nothing runs beside a folder's read."""


def folder_revision(root: Path, *, extra: tuple[Path, ...] = ()) -> str:
    """`git:<sha12>` for a clean git checkout, else `sha256:<12 hex>` of the files' content.

    A file that vanishes or cannot be read meanwhile (a `git pull` in progress) raises SpecError, which
    a controller reports and retries on its next cycle.
    """
    commit = _clean_git_commit(root)
    if commit:
        return f"git:{commit[:12]}"
    digest = hashlib.sha256()
    for base in (root, *extra):
        path = base
        try:
            for path in _content_files(base):
                digest.update(str(path.relative_to(base)).encode())
                digest.update(path.read_bytes())
        except OSError as exc:
            hint = "if the tree is being updated (git pull), the next load retries"
            problem = SpecProblem(str(path), None, "", f"cannot read the file: {exc.strerror or exc}", hint)
            raise SpecError([problem]) from exc
    return f"sha256:{digest.hexdigest()[:12]}"


def _content_files(base: Path) -> list[Path]:
    if base.is_file():
        return [base]
    return sorted(
        path
        for path in base.rglob("*")
        if path.suffix in SPEC_SUFFIXES
        and not any(part.startswith(".") for part in path.relative_to(base).parts)
        and path.is_file()
    )


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
