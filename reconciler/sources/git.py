"""Specs from a git remote (layer 3 adapter, sources), through the git command line.

Cloned once into a cache folder, then fetched: each fetch checks out the branch's newest commit,
whose sha is the revision. A token for https comes from an environment variable or a file and
reaches git as an `http.<origin>.extraHeader` set through GIT_CONFIG_* environment variables: never in
the URL, the command line, `.git/config`, a log line or an error message. The git CLI rather than a
library: it speaks every transport and credential setup an operator already has working. Each git
runs in its own process group, killed whole at the deadline (`git remote-http` and `ssh` included); a
clone that a killed git left damaged (a stale `index.lock`, a broken index) is started afresh.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from reconciler.errors import UsageError
from reconciler.sources.base import Checkout, RevisionError, SourceError

log = logging.getLogger("reconciler.sources")
REDACTED = "<redacted>"
DEFAULT_GIT_TIMEOUT = 120.0  # seconds one git command may run (`run --git-timeout`)
_LOOPBACK = ("127.", "localhost", "[::1]", "::1")
# Maintenance that git starts after a fetch runs in the foreground: detached, it would outlive the deadline's
# kill and hold the clone's locks while the next fetch runs.
_QUIET_CONFIG = (("gc.autoDetach", "false"), ("maintenance.autoDetach", "false"))
# What git says of a clone it cannot use (a lock a killed git left, a broken index or object), as opposed to
# the remote's answers: `.git/` as a path of its own, not the end of a URL's `specs.git/`.
_DAMAGE = re.compile(r"(?:^|[\s'\"])\.git/|index file|bad object|is corrupt|not a git repository", re.MULTILINE)


class _DamagedClone(SourceError):
    """A git step failed because of the local clone, not the remote: started afresh once."""


@dataclass(frozen=True)
class GitToken:
    """Where the https token is read from, at each fetch (so a rotated token is picked up)."""

    env: str | None = None
    file: Path | None = None
    username: str = "x-access-token"  # GitHub's; GitLab takes any name with a token as the password

    def read(self) -> str | None:
        if self.env:
            value = os.environ.get(self.env, "").strip()
            if not value:
                raise SourceError(f"the git token variable {self.env} is not set or empty",
                                  hint="export it in the controller's environment")
            return value
        if self.file:
            try:
                value = self.file.read_text().strip()
            except OSError as exc:
                raise SourceError(f"cannot read the git token file {self.file}: {exc.strerror}") from None
            if not value:
                raise SourceError(f"the git token file {self.file} is empty")
            return value
        return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/"


def check_git_url(url: str, token: GitToken) -> None:
    """Refuses URLs with credentials in them, and tokens that would travel unencrypted off this host."""
    parts = urlsplit(url)
    hint = "remove it from the URL and pass the token with --git-token-env or --git-token-file"
    if parts.scheme in ("http", "https") and parts.password is not None:
        raise UsageError("--source: the URL carries a password", hint=hint)
    if parts.scheme in ("http", "https") and parts.username is not None:
        # GitHub takes a token as the user name (`https://<token>@github.com/...`): the URL would show it in
        # every error, the status and .git/config, as a password would be.
        raise UsageError("--source: the URL carries a user name, which may be a token", hint=hint)
    has_token = token.env is not None or token.file is not None
    if has_token and parts.scheme not in ("http", "https"):
        raise UsageError(f"--source: a git token works with https URLs only, not {parts.scheme or 'this'} URLs")
    if has_token and parts.scheme == "http" and not (parts.hostname or "").startswith(_LOOPBACK):
        raise UsageError("--source: a token over plain http would travel unencrypted", hint="use an https URL")


class GitSource:
    """A branch (default: the remote's HEAD) of a git remote, with the specs under `path`."""

    def __init__(
        self, url: str, *, cache_dir: Path, branch: str | None = None, path: str = ".",
        token: GitToken = GitToken(), timeout: float = DEFAULT_GIT_TIMEOUT,
    ) -> None:
        check_git_url(url, token)
        relative = PurePosixPath(path)
        if relative.is_absolute() or ".." in relative.parts:
            raise UsageError(f"--path {path}: must be a folder inside the repository", hint="for example --path specs")
        self.url, self.branch, self.path = url, branch, relative
        self.token, self.timeout = token, timeout
        self.workdir = cache_dir / hashlib.sha256(url.encode()).hexdigest()[:16]
        self._guard = threading.Lock()  # `close` comes from the event loop while a worker thread fetches
        self._running: subprocess.Popen[str] | None = None
        self._closed = False

    def describe(self) -> str:
        return f"{self.url}#{self.branch or 'HEAD'}:{self.path}"

    def close(self) -> None:
        """Kills the git running now (a fetch hanging on its remote would hold the controller's exit up to its
        deadline) and refuses every later one."""
        with self._guard:
            self._closed, running = True, self._running
        if running is not None:
            _kill_group(running)

    def fetch(self) -> Checkout:
        token = self.token.read()
        with self._locked():
            try:
                return self._checkout(token)
            except _DamagedClone as exc:
                log.warning("event=git-clone-restarted source=%s reason=%r", self.describe(), exc.message)
                shutil.rmtree(self.workdir, ignore_errors=True)
                return self._checkout(token)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """One git at a time in the clone, across threads and processes sharing the cache folder: a lock file
        found inside it is then a killed git's, never a running one's."""
        self.workdir.parent.mkdir(parents=True, exist_ok=True)
        with open(self.workdir.with_name(self.workdir.name + ".lock"), "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            yield

    def _checkout(self, token: str | None) -> Checkout:
        self._ensure_clone()
        if self.branch:
            self._git(["fetch", "--quiet", "--no-tags", "--prune", "origin",
                       f"+refs/heads/{self.branch}:refs/remotes/origin/{self.branch}"], token)
            ref = f"refs/remotes/origin/{self.branch}"
        else:
            self._git(["fetch", "--quiet", "--no-tags", "origin", "HEAD"], token)
            ref = "FETCH_HEAD"
        sha = self._git(["rev-parse", "--verify", f"{ref}^{{commit}}"], None).strip()
        self._git(["checkout", "--quiet", "--force", "--detach", sha], None)
        self._git(["clean", "-ffdxq"], None)
        specs = self.workdir / self.path
        if not specs.is_dir():
            raise RevisionError(f"{self.describe()} at {sha[:12]}: the folder {self.path} does not exist",
                                revision=sha, hint="check --path against the repository's layout")
        # DEBUG: a controller fetches every poll; what changed is logged by whoever loads the revision.
        log.debug("event=git-fetched source=%s revision=%s", self.describe(), sha[:12])
        return Checkout(specs, sha, root=self.workdir)

    def _ensure_clone(self) -> None:
        """`git init` + remote once; a cache folder holding another remote is started afresh."""
        if (self.workdir / ".git").is_dir():
            known = self._git(["config", "--get", "remote.origin.url"], None, check=False).strip()
            if known == self.url:
                return
            shutil.rmtree(self.workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._git(["init", "--quiet"], None)
        self._git(["remote", "add", "origin", self.url], None)

    def _env(self, token: str | None) -> dict[str, str]:
        env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "GIT_ASKPASS": "", "SSH_ASKPASS": ""}
        config = list(_QUIET_CONFIG)
        if token is not None:
            basic = base64.b64encode(f"{self.token.username}:{token}".encode()).decode()
            config.append((f"http.{_origin(self.url)}.extraHeader", f"Authorization: Basic {basic}"))
        env["GIT_CONFIG_COUNT"] = str(len(config))
        for index, (key, value) in enumerate(config):
            env[f"GIT_CONFIG_KEY_{index}"], env[f"GIT_CONFIG_VALUE_{index}"] = key, value
        return env

    def _git(self, args: list[str], token: str | None, *, check: bool = True) -> str:
        try:
            code, stdout, stderr = self._run(["git", "-C", str(self.workdir), *args], self._env(token))
        except subprocess.TimeoutExpired:
            raise SourceError(f"git {args[0]} of {self.describe()} took longer than {self.timeout:g}s",
                              hint="check that the git server is reachable, or raise --git-timeout") from None
        except OSError as exc:
            raise SourceError(f"cannot run git: {exc.strerror}", hint="install git") from None
        if check and code != 0:
            message = f"git {args[0]} of {self.describe()} failed: {self._redact(stderr, token)}"
            if _DAMAGE.search(stderr) or str(self.workdir) in stderr:
                raise _DamagedClone(message, hint="the local clone is started afresh")
            raise SourceError(message, hint=self._hint(stderr, token))
        return stdout

    def _hint(self, stderr: str, token: str | None) -> str:
        if "couldn't find remote ref" not in stderr:
            return _hint(stderr, with_token=token is not None)
        try:
            code, listed, _ = self._run(["git", "-C", str(self.workdir), "ls-remote", "--heads", "origin"],
                                        self._env(token))
        except (subprocess.TimeoutExpired, OSError, SourceError):
            code, listed = 1, ""
        branches = [line.split("refs/heads/", 1)[-1] for line in listed.splitlines() if "refs/heads/" in line]
        if code == 0 and not branches:
            return "the remote has no commits yet (an empty repository): push the specs first"
        shown = ", ".join(sorted(branches)[:10]) + (", ..." if len(branches) > 10 else "")
        if self.branch is None:
            return f"the remote has no default branch (HEAD): pass --branch, one of {shown}"
        return "check --branch: the remote has no such branch" + (f"; it has {shown}" if branches else "")

    def _run(self, argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
        """Runs git in a process group of its own, killed whole at the deadline or by `close`."""
        with self._guard:
            if self._closed:
                raise SourceError(f"{self.describe()}: the source is closed (the controller stops)")
            process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, start_new_session=True)
            self._running = process
        with process:
            try:
                stdout, stderr = process.communicate(timeout=self.timeout)
            except BaseException:
                _kill_group(process)
                process.communicate()
                raise
            finally:
                with self._guard:
                    self._running = None
        return process.returncode, stdout, stderr

    def _redact(self, text: str, token: str | None) -> str:
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        # git's own verdicts first: after them comes advice ("...remove the file manually to continue.").
        verdicts = [line for line in lines if line.startswith(("fatal:", "error:"))]
        message = " / ".join((verdicts or lines)[-3:]) or "(no message)"
        if token:
            basic = base64.b64encode(f"{self.token.username}:{token}".encode()).decode()
            message = message.replace(basic, REDACTED).replace(token, REDACTED)
        return message


def _kill_group(process: subprocess.Popen[str]) -> None:
    """Kills git's process group: killed alone, git would leave its helpers (`git remote-http`, `ssh`)
    hanging on the remote."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


_AUTH_SIGNS = ("Authentication failed", "could not read Username", "could not read Password", " 401", " 403")


def _hint(stderr: str, *, with_token: bool) -> str:
    if "couldn't find remote ref" in stderr:
        return "check --branch: the remote has no such branch"
    if any(sign in stderr for sign in _AUTH_SIGNS):
        if with_token:
            return "the server refused the token: check the token and its read access to the repository"
        return "the remote wants credentials: pass a token with --git-token-env or --git-token-file"
    return "check the URL and that the git server is reachable"
