"""The exception tree of the reconciler (shared by every layer).

    ReconcilerError                 exit code 1 unless a subclass says otherwise
    +-- SpecError                   exit 3: invalid spec files; carries every SpecProblem found
    +-- RemoteError                 a remote system (Marathon, Consul, ...) failed us
    |   +-- RemoteUnavailable       connection refused, timeout, 5xx: retryable
    |   |   +-- OutcomeUnknown      a write was sent, then the connection dropped: it may have landed
    |   +-- RemoteRejected          4xx: the remote refused the request (terminal)
    |       +-- DeploymentLocked    409 from Marathon: apps locked by running deployments
    +-- GuardRefused                exit 4: a safety guard refused (prune limit, empty specs)
    +-- UsageError                  exit 2: bad CLI input (a flag's value); names the flag

Adapters translate their library's exceptions into these in one place (`raise ... from exc`);
messages never contain credentials.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class ExitCode:
    """The one table of exit codes (the README's "Exit codes" section repeats it)."""

    OK = 0
    ERROR = 1
    CHANGES_PENDING = 2
    USAGE = 2  # a bad flag or argument, as click answers it: nothing was read or sent
    INVALID_SPEC = 3
    REFUSED = 4


class ReconcilerError(Exception):
    """Base of every expected error; the CLI prints it as one line, no traceback."""

    exit_code = ExitCode.ERROR
    code = "reconciler-error"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} (hint: {self.hint})"


@dataclass(frozen=True)
class SpecProblem:
    """One problem in a spec file: where, which field, what is wrong, what to do."""

    file: str
    line: int | None
    field: str
    message: str
    hint: str | None = None

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        text = f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        return f"{text} (hint: {self.hint})" if self.hint else text


class SpecError(ReconcilerError):
    exit_code = ExitCode.INVALID_SPEC
    code = "invalid-spec"

    def __init__(self, problems: list[SpecProblem], *, hint: str | None = None) -> None:
        self.problems = problems
        super().__init__("\n".join(p.render() for p in problems) or "invalid spec", hint=hint)

    def __str__(self) -> str:  # each problem carries its own hint: the error's, if any, is a line of its own
        return f"{self.message}\n{self.hint}" if self.hint else self.message


class RemoteError(ReconcilerError):
    code = "remote-error"

    def __init__(self, message: str, *, status: int | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.status = status


class RemoteUnavailable(RemoteError):
    code = "remote-unavailable"


class OutcomeUnknown(RemoteUnavailable):
    """A write reached the wire, then the connection dropped before an answer: observe before retrying."""

    code = "outcome-unknown"


class RemoteRejected(RemoteError):
    code = "remote-rejected"


class DeploymentLocked(RemoteRejected):
    code = "deployment-locked"

    def __init__(self, message: str, *, deployment_ids: tuple[str, ...] = (), status: int = 409) -> None:
        super().__init__(message, status=status, hint="wait for the deployment, or set `force: true`")
        self.deployment_ids = deployment_ids


class GuardRefused(ReconcilerError):
    exit_code = ExitCode.REFUSED
    code = "refused-by-guard"


class UsageError(ReconcilerError):
    exit_code = ExitCode.USAGE
    code = "usage-error"


@dataclass
class ProblemList:
    """Collects problems so that validation reports every error at once."""

    items: list[SpecProblem] = field(default_factory=list)

    def add(self, problem: SpecProblem) -> None:
        self.items.append(problem)

    def raise_if_any(self) -> None:
        if self.items:
            raise SpecError(sorted(self.items, key=lambda p: (p.file, p.line or 0, p.field)))
