"""Real git repositories for the tests, made with the git CLI in a temp dir (no network)."""

from __future__ import annotations

import subprocess
from pathlib import Path

IDENTITY = ["-c", "user.name=Test", "-c", "user.email=test@example.invalid", "-c", "init.defaultBranch=main",
            "-c", "commit.gpgsign=false"]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *IDENTITY, "-C", str(repo), *args], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, f"git {' '.join(args)}: {done.stderr}"
    return done.stdout.strip()


class Repo:
    """A working repository whose commits tests push to a bare `origin` (what a git server holds)."""

    def __init__(self, root: Path) -> None:
        self.work = root / "work"
        self.bare = root / "origin.git"
        self.work.mkdir(parents=True)
        git(root, "init", "--quiet", "--bare", str(self.bare))
        git(self.work, "init", "--quiet")
        git(self.work, "remote", "add", "origin", str(self.bare))

    @property
    def url(self) -> str:
        return self.bare.as_uri()

    def _switch(self, branch: str) -> None:
        born = subprocess.run(["git", "-C", str(self.work), "rev-parse", "--verify", "-q", "HEAD"],
                              capture_output=True, check=False).returncode == 0
        if not born:
            git(self.work, "symbolic-ref", "HEAD", f"refs/heads/{branch}")
        elif git(self.work, "branch", "--list", branch):
            git(self.work, "checkout", "--quiet", branch)
        else:
            git(self.work, "checkout", "--quiet", "-b", branch)

    def commit(self, files: dict[str, str | None], message: str = "change", branch: str = "main") -> str:
        """Writes (or, for None, deletes) files, commits them on `branch` and pushes; returns the sha."""
        self._switch(branch)
        for name, text in files.items():
            path = self.work / name
            if text is None:
                path.unlink()
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git(self.work, "add", "--all")
        git(self.work, "commit", "--quiet", "-m", message)
        git(self.work, "push", "--quiet", "--force", "origin", f"HEAD:refs/heads/{branch}")
        return git(self.work, "rev-parse", "HEAD")
