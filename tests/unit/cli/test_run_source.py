"""`reconciler run` source flags: folders, git URLs, and flags that make no sense together are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli.run_source import build_source, is_git_url, read_webhook_secret
from reconciler.errors import UsageError
from reconciler.sources.folder import FolderSource
from reconciler.sources.git import GitSource

NONE: dict[str, None] = {"branch": None, "path": None, "token_env": None, "token_file": None, "cache": None}


@pytest.mark.parametrize(("text", "git"), [
    ("https://github.com/org/specs.git", True), ("file:///srv/specs.git", True), ("git@github.com:org/specs", True),
    ("ssh://git@host/specs", True), ("specs", False), ("/srv/specs", False), ("./a:b", False),
])
def test_git_urls_are_told_from_folders(text: str, git: bool) -> None:
    assert is_git_url(text) is git


def test_folder_and_git_sources(tmp_path: Path) -> None:
    assert isinstance(build_source(tmp_path, None, **NONE), FolderSource)
    assert isinstance(build_source(None, str(tmp_path), **NONE), FolderSource)
    git = build_source(None, "file:///srv/specs.git", **{**NONE, "branch": "main", "path": "specs",
                                                            "cache": tmp_path})
    assert isinstance(git, GitSource) and git.describe() == "file:///srv/specs.git#main:specs"


def test_contradicting_or_meaningless_flags_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="exactly one"):
        build_source(tmp_path, str(tmp_path), **NONE)
    with pytest.raises(UsageError, match="exactly one"):
        build_source(None, None, **NONE)
    with pytest.raises(UsageError, match="--branch, --path: only with a git --source"):
        build_source(tmp_path, None, **{**NONE, "branch": "main", "path": "specs"})
    with pytest.raises(UsageError, match="give one of them"):
        build_source(None, "https://h/r.git", **{**NONE, "token_env": "T", "token_file": tmp_path / "t"})


def test_webhook_secret_from_a_flag_or_a_file(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    assert read_webhook_secret(None, secret) == b"s3cret"
    assert read_webhook_secret("inline", None) == b"inline"
    assert read_webhook_secret(None, None) is None
    with pytest.raises(UsageError, match="give one of them"):
        read_webhook_secret("inline", secret)
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(UsageError, match="is empty"):
        read_webhook_secret(None, tmp_path / "empty")


def test_the_git_timeout_reaches_the_git_source_and_is_refused_with_a_folder(tmp_path: Path) -> None:
    git = build_source(None, "file:///srv/specs.git", **{**NONE, "cache": tmp_path}, timeout=7.5)
    assert isinstance(git, GitSource) and git.timeout == 7.5
    default = build_source(None, "file:///srv/specs.git", **{**NONE, "cache": tmp_path})
    assert isinstance(default, GitSource) and default.timeout == 120
    with pytest.raises(UsageError, match="--git-timeout: only with a git --source"):
        build_source(tmp_path, None, **NONE, timeout=30)
