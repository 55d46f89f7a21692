"""Flags of `reconciler run` that say where the specs come from and who may push (face layer).

`--source` is a folder or a git URL (`https://`, `ssh://`, `file://`, `git@host:repo`); the legacy
positional SPECS folder still works. Git-only flags given with a folder are refused, never ignored.
Secrets come from files or the environment; none is ever printed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from reconciler.errors import UsageError
from reconciler.sources.base import Source
from reconciler.sources.folder import FolderSource
from reconciler.sources.git import DEFAULT_GIT_TIMEOUT, GitSource, GitToken

_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@github.com:org/specs.git


def is_git_url(text: str) -> bool:
    return "://" in text or bool(_SCP_LIKE.match(text))


def default_git_cache() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "reconciler" / "git"


def build_source(
    specs: Path | None, source: str | None, *, branch: str | None, path: str | None, token_env: str | None,
    token_file: Path | None, cache: Path | None, timeout: float | None = None,
) -> Source:
    """The Source the flags describe; a UsageError for contradicting or meaningless flags."""
    if (specs is None) == (source is None):
        raise UsageError("give the specs either as SPECS or as --source PATH|GIT_URL (exactly one)")
    if source is not None and is_git_url(source):
        if token_env and token_file:
            raise UsageError("--git-token-env and --git-token-file: give one of them")
        return GitSource(source, cache_dir=cache or default_git_cache(), branch=branch, path=path or ".",
                         token=GitToken(env=token_env, file=token_file), timeout=timeout or DEFAULT_GIT_TIMEOUT)
    git_only = {"--branch": branch, "--path": path, "--git-token-env": token_env, "--git-token-file": token_file,
                "--git-cache": cache, "--git-timeout": timeout}
    given = [flag for flag, value in git_only.items() if value is not None]
    if given:
        raise UsageError(f"{', '.join(given)}: only with a git --source URL", hint="a folder is read as it is")
    # A missing folder is the spec loader's to report (exit 3, "no such file or folder"), as for every command.
    return FolderSource(specs if specs is not None else Path(str(source)))


def read_webhook_secret(secret: str | None, secret_file: Path | None) -> bytes | None:
    """The webhook secret from --webhook-secret (or its variable) or --webhook-secret-file; None: unsigned."""
    if secret and secret_file:
        raise UsageError("--webhook-secret and --webhook-secret-file: give one of them")
    if secret_file is not None:
        try:
            text = secret_file.read_text().strip()
        except OSError as exc:
            raise UsageError(f"--webhook-secret-file {secret_file}: {exc.strerror}") from None
        if not text:
            raise UsageError(f"--webhook-secret-file {secret_file} is empty")
        return text.encode()
    return secret.encode() if secret else None
