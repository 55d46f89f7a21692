"""Spec sources without a server: the poll delay's jitter, the folder source, URL and path checks."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.errors import UsageError
from reconciler.sources.base import SourceError, next_poll_delay
from reconciler.sources.folder import FolderSource
from reconciler.sources.git import GitSource, GitToken


@pytest.mark.parametrize(("draw", "expected"), [(0.5, 30.0), (0.0, 24.0), (1.0, 36.0), (0.75, 33.0), (-3, 24.0)])
def test_poll_delay_moves_within_the_jitter(draw: float, expected: float) -> None:
    assert next_poll_delay(30.0, draw) == pytest.approx(expected)


@settings(deadline=None)  # a loaded CI machine must not turn a slow example into a failure
@given(st.floats(0.1, 3600), st.floats(0, 1), st.floats(0, 0.99))
def test_poll_delay_stays_in_its_band(interval: float, draw: float, jitter: float) -> None:
    delay = next_poll_delay(interval, draw, jitter)
    assert interval * (1 - jitter) - 1e-9 <= delay <= interval * (1 + jitter) + 1e-9
    assert delay > 0


def test_poll_delay_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="positive"):
        next_poll_delay(0, 0.5)
    with pytest.raises(ValueError, match="jitter"):
        next_poll_delay(30, 0.5, 1.0)


def test_folder_source_revision_follows_the_content(tmp_path: Path) -> None:
    (tmp_path / "env.yaml").write_text("a: 1\n")
    source = FolderSource(tmp_path)
    first = source.fetch()
    assert first.path == tmp_path and first.revision.startswith("sha256:")
    assert source.fetch().revision == first.revision
    (tmp_path / "env.yaml").write_text("a: 2\n")
    assert source.fetch().revision != first.revision


@pytest.mark.parametrize(("url", "token", "message"), [
    ("https://user:pw@git.example.com/specs.git", GitToken(), "carries a password"),
    ("ssh://git@git.example.com/specs.git", GitToken(env="TOKEN"), "https URLs only"),
    ("file:///srv/specs.git", GitToken(file=Path("/t")), "https URLs only"),
    ("http://git.example.com/specs.git", GitToken(env="TOKEN"), "unencrypted"),
])
def test_unsafe_urls_are_refused(tmp_path: Path, url: str, token: GitToken, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        GitSource(url, cache_dir=tmp_path, token=token)


def test_a_token_as_the_user_name_is_refused_without_showing_it(tmp_path: Path) -> None:
    """GitHub accepts `https://<token>@github.com/...`: such a URL would show the token wherever the source is
    named (errors, /status, the invalid-commit notification), so it is refused as a password is."""
    token = "ghp_Tok3nAsUser0000000000000000000000"
    with pytest.raises(UsageError, match="carries a user name") as refused:
        GitSource(f"https://{token}@127.0.0.1:9/specs.git", cache_dir=tmp_path)
    assert token not in str(refused.value) and token not in (refused.value.hint or "")


@pytest.mark.parametrize("path", ["../outside", "/etc", "specs/../../x"])
def test_a_path_outside_the_repository_is_refused(tmp_path: Path, path: str) -> None:
    with pytest.raises(UsageError, match="inside the repository"):
        GitSource("file:///srv/specs.git", cache_dir=tmp_path, path=path)


def test_a_missing_token_names_the_variable_not_a_value(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECONCILER_TEST_TOKEN", raising=False)
    source = GitSource("https://git.example.com/specs.git", cache_dir=tmp_path,
                       token=GitToken(env="RECONCILER_TEST_TOKEN"))
    with pytest.raises(SourceError, match="RECONCILER_TEST_TOKEN is not set"):
        source.fetch()
    empty = tmp_path / "token"
    empty.write_text("\n")
    with pytest.raises(SourceError, match="is empty"):
        GitSource("https://git.example.com/specs.git", cache_dir=tmp_path, token=GitToken(file=empty)).fetch()
