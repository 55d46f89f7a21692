"""The Jinja2 environment charts render in (spec layer): sandboxed, StrictUndefined, and bounded.

Bounds (TemplateLimits, set by RECONCILER_TEMPLATE_CPU_SECONDS and RECONCILER_TEMPLATE_MAX_OUTPUT):
`**`, `*`, `+`, `%` and `~` refuse results past the limits before computing them, `range` is capped and
checks the CPU budget as it counts, every call and filter is checked, and a watchdog (cpu_watchdog.py)
interrupts whatever loop is left when the rendering thread's CPU time runs out.
"""

from __future__ import annotations

import difflib
import json
import math
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import wraps
from pathlib import Path
from typing import Any, NoReturn

import jinja2
from jinja2.compiler import CodeGenerator, Frame
from jinja2.filters import do_format
from jinja2.nodes import Concat
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from reconciler.errors import UsageError
from reconciler.spec.overlay import deep_merge
from reconciler.spec.placeholders import JsonText, Placeholders

CPU_SECONDS_VARIABLE = "RECONCILER_TEMPLATE_CPU_SECONDS"
MAX_OUTPUT_VARIABLE = "RECONCILER_TEMPLATE_MAX_OUTPUT"
LIMITS_HINT = f"or raise {CPU_SECONDS_VARIABLE} / {MAX_OUTPUT_VARIABLE}"
MAX_RANGE = 100_000
MAX_INT_BITS = 100_000  # about 30,000 decimal digits: far beyond any count, port or size a spec holds
_TICK = 1_000  # range items between two looks at the CPU clock
# Filters and str methods whose number arguments size what they build (`"x" | center(10**9)`).
_WIDENING = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "indent", "wordwrap", "truncate", "batch"})
_WIDE_FORMAT = re.compile(r"\d{7,}")  # a width or precision of a million or more in a format string


@dataclass(frozen=True)
class TemplateLimits:
    """How much work one template may do: CPU seconds, and characters of output (text and values)."""

    cpu_seconds: float = 2.0
    max_output: int = 1_000_000


def limits_from_environ(environ: dict[str, str] | None = None) -> TemplateLimits:
    """The limits set by RECONCILER_TEMPLATE_* (unset: the defaults); a bad value is a UsageError."""
    source = os.environ if environ is None else environ
    defaults = TemplateLimits()
    cpu = _positive(source, CPU_SECONDS_VARIABLE, float, defaults.cpu_seconds)
    output = _positive(source, MAX_OUTPUT_VARIABLE, int, defaults.max_output)
    return TemplateLimits(cpu_seconds=cpu, max_output=int(output))


def _positive(source: Any, name: str, kind: Callable[[str], float], default: float) -> float:
    text = source.get(name)
    if text is None or text == "":
        return default
    try:
        value = kind(text)
    except ValueError:
        value = -1.0
    if not (math.isfinite(value) and value > 0):
        raise UsageError(f"{name}={text!r}: not a positive number", hint=f"unset it for the default ({default})")
    return value


class TemplateLimitError(Exception):
    """A template went past its limits; `line` when the template line is known without a traceback."""

    def __init__(self, message: str = "", line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


class ChartRefusal(Exception):
    """Raised by a template's `fail(message, hint)`: the chart refuses the values it was given."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.hint = message, hint


def fail(message: Any, hint: Any = "") -> NoReturn:
    """`{{ fail("heapMb must be below mem", "lower heapMb") }}`: a chart refuses values no schema can
    express (one value against another), as Helm's `fail`; reported at the template line, naming the app."""
    raise ChartRefusal(str(message), str(hint))


class TemplateTimeout(TemplateLimitError):
    """Raised into the rendering thread by the watchdog (no arguments: it is raised as a class)."""


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to a call the environment can bound (Jinja would join the strings unchecked)."""

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        self.write("environment.join_text((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class _ContentLoader(jinja2.FileSystemLoader):
    """A template is up to date while its file holds the same text (not the same mtime: a file
    rewritten within the file system's mtime resolution must still be compiled again). Jinja does not
    ask on each rendering (`auto_reload=False`): `ChartEnvironment.forget_changed` asks once per load."""

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str, Callable[[], bool]]:
        source, filename, _ = super().get_source(environment, template)

        def uptodate() -> bool:
            try:
                return Path(filename).read_text(encoding="utf-8") == source
            except (OSError, UnicodeDecodeError):
                return False

        return source, filename, uptodate


class ChartEnvironment(SandboxedEnvironment):
    """One chart rendering: every `{{ }}` value becomes a placeholder (see placeholders.py), and
    every operation that can grow without end is bounded by `limits`."""

    code_generator_class = _BoundedCodeGenerator
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, folder: Path, limits: TemplateLimits) -> None:
        super().__init__(
            loader=_ContentLoader(str(folder)),
            undefined=KeyedUndefined,
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            autoescape=False,
            finalize=_finalize,
            auto_reload=False,
        )
        self.limits = limits
        self.placeholders = Placeholders()
        self.output = 0
        self.cpu_deadline = time.thread_time() + limits.cpu_seconds
        self.globals["range"] = self.bounded_range
        self.globals["fail"] = fail
        self.filters = {name: self._bounded_filter(name, function) for name, function in self.filters.items()}
        self.filters["json"] = self.filters["tojson"] = _json_text
        self.filters["merge"] = self._bounded_filter("merge", _merge)

    def forget_changed(self) -> None:
        """Drops each compiled template whose file no longer holds the text it was compiled from: a
        load asks once, not once per app it renders (reading the file back for each app cost more than
        rendering it)."""
        if self.cache is None:
            return
        for key, template in list(self.cache.items()):
            if not template.is_up_to_date:
                del self.cache[key]

    def render_template(self, name: str, context: dict[str, Any]) -> str:
        """The text of template `name`, streamed so that output and CPU time are checked as it grows
        (each template has its own budget and placeholders)."""
        self.placeholders.reset()
        self.output = 0
        self.cpu_deadline = time.thread_time() + self.limits.cpu_seconds
        stream = self.get_template(name).generate(**context)
        chunks = []
        for chunk in stream:
            try:
                self.count_output(len(chunk))
                self.check_time()
            except TemplateLimitError as exc:
                exc.line = _suspended_line(stream)
                raise
            chunks.append(chunk)
        return "".join(chunks)

    def check_time(self) -> None:
        if time.thread_time() > self.cpu_deadline:
            raise TemplateLimitError(self.timeout_message())

    def timeout_message(self) -> str:
        return f"template evaluation used more than {self.limits.cpu_seconds:g} s of CPU time"

    def count_output(self, size: int) -> None:
        self.output += size
        if self.output > self.limits.max_output:
            raise TemplateLimitError(f"template output exceeds {self.limits.max_output} characters")

    def check_size(self, value: Any) -> Any:
        """`value`, unless it is a string or collection longer than the output limit."""
        if isinstance(value, str | bytes | list | tuple | dict | set) and len(value) > self.limits.max_output:
            raise TemplateLimitError(f"a template value exceeds {self.limits.max_output} items or characters")
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(f"a template number exceeds {MAX_INT_BITS} bits")
        return value

    def check_widths(self, name: str, arguments: tuple[Any, ...], keywords: dict[str, Any]) -> None:
        """Refuse a width or count that would build a value past the output limit."""
        if name not in _WIDENING:
            return
        for argument in (*arguments, *keywords.values()):
            if isinstance(argument, int) and abs(argument) > self.limits.max_output:
                raise TemplateLimitError(f"argument {argument} exceeds the template output limit")

    def check_format(self, text: str) -> None:
        for match in _WIDE_FORMAT.finditer(text):
            if int(match.group()) > self.limits.max_output:
                raise TemplateLimitError(f"format width {match.group()} exceeds the template output limit")

    def join_text(self, parts: tuple[Any, ...]) -> str:
        self.check_time()
        return str(self.check_size("".join(str(part) for part in parts)))

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        self.check_time()
        _check_binop(self, operator, left, right)
        return self.check_size(super().call_binop(context, operator, left, right))

    def call(self, context: Context, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        self.check_time()
        method = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
        name, text = getattr(method, "__name__", ""), getattr(method, "__self__", None)
        if isinstance(text, str):
            self.check_widths(name, args, kwargs)
            if name in ("format", "format_map"):
                self.check_format(text)
        return self.check_size(super().call(context, obj, *args, **kwargs))

    def bounded_range(self, *arguments: int) -> TickingRange:
        numbers = range(*arguments)
        if len(numbers) > MAX_RANGE:
            raise TemplateLimitError(f"range of {len(numbers)} numbers: at most {MAX_RANGE}")
        return TickingRange(numbers, self)

    def _bounded_filter(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        skipped = _skipped(function)

        @wraps(function)
        def bounded(*arguments: Any, **keywords: Any) -> Any:
            self.check_time()
            self.check_widths(name, arguments[skipped + 1 :], keywords)
            if function is do_format and len(arguments) > skipped:
                self.check_format(str(arguments[skipped]))
            return self.check_size(function(*arguments, **keywords))

        return bounded


def _suspended_line(stream: Iterator[str]) -> int | None:
    """The template line a paused rendering stands at (the innermost template generator's frame)."""
    line = None
    generator: Any = stream
    while generator is not None:
        frame = getattr(generator, "gi_frame", None)
        template = frame.f_globals.get("__jinja_template__") if frame is not None else None
        if template is not None and frame is not None:
            line = template.get_corresponding_lineno(frame.f_lineno)
        generator = getattr(generator, "gi_yieldfrom", None)
    return line


def _skipped(function: Callable[..., Any]) -> int:
    """How many leading arguments Jinja passes before the filtered value (context, environment)."""
    return 1 if getattr(function, "jinja_pass_arg", None) is not None else 0


def _check_binop(environment: ChartEnvironment, operator: str, left: Any, right: Any) -> None:
    limit = environment.limits.max_output
    if operator == "**" and _int(left) and _int(right) and right > 0 and abs(left) > 1:
        if right * math.log2(abs(left)) > MAX_INT_BITS:
            raise TemplateLimitError(f"{left} ** {right} exceeds {MAX_INT_BITS} bits")
    elif operator == "*":
        for sequence, count in ((left, right), (right, left)):
            if isinstance(sequence, str | list | tuple) and _int(count) and len(sequence) * count > limit:
                raise TemplateLimitError(f"repeating {len(sequence)} items {count} times exceeds {limit}")
        if _int(left) and _int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
            raise TemplateLimitError(f"a product exceeds {MAX_INT_BITS} bits")
    elif operator == "+" and isinstance(left, str | list | tuple) and isinstance(right, str | list | tuple):
        if len(left) + len(right) > limit:
            raise TemplateLimitError(f"joining values exceeds {limit} items or characters")
    elif operator == "%" and isinstance(left, str):
        environment.check_format(left)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class TickingRange:
    """`range` for templates: looks at the CPU budget as it counts, so that nested loops end."""

    def __init__(self, numbers: range, environment: ChartEnvironment) -> None:
        self._numbers = numbers
        self._environment = environment

    def __iter__(self) -> Iterator[int]:
        for index, number in enumerate(self._numbers):
            if index % _TICK == 0:
                self._environment.check_time()
            yield number

    def __len__(self) -> int:
        return len(self._numbers)

    def __getitem__(self, index: int) -> int:
        return self._numbers[index]

    def __contains__(self, number: object) -> bool:
        return number in self._numbers

    def __reversed__(self) -> Iterator[int]:
        return iter(TickingRange(self._numbers[::-1], self._environment))


@jinja2.pass_context
def _finalize(context: Context, value: Any) -> str:
    """Every `{{ }}` value leaves as a placeholder: the rendered text never holds a value's characters."""
    environment = context.environment
    assert isinstance(environment, ChartEnvironment)
    _raise_undefined(value)
    if isinstance(value, str):
        environment.count_output(len(value))
    return environment.placeholders.add(value)


def _json_text(value: Any) -> JsonText:
    """`| json`: the value itself where it stands alone, its JSON text inside a longer string."""
    return JsonText(json.dumps(value), value)


class KeyedUndefined(jinja2.StrictUndefined):
    """StrictUndefined whose message, for a key a mapping lacks, names the closest key it has (or its few
    keys): `kind: redsi` in an app's values shows up where a chart looks the preset up."""

    __slots__ = ()

    @property
    def _undefined_message(self) -> str:
        message: str = super()._undefined_message
        within, name = self._undefined_obj, self._undefined_name
        if not isinstance(within, dict) or not within or not isinstance(name, str):
            return message
        keys = sorted(str(key) for key in within)
        close = difflib.get_close_matches(name, keys, n=1, cutoff=0.6)
        if close:
            return f"{message} (did you mean '{close[0]}'?)"
        return f"{message} (its keys: {', '.join(keys)})" if len(keys) <= _KEYS_LISTED else message


_KEYS_LISTED = 12


def _merge(under: Any, over: Any) -> Any:
    """`a | merge(b)`; an undefined side fails here, where it was looked up, rather than as an empty mapping
    whose fields are then missing lines later."""
    for side in (under, over):
        if isinstance(side, jinja2.Undefined):
            str(side)
    return deep_merge(under, over)


def _raise_undefined(value: Any) -> None:
    """StrictUndefined raises when printed: a value printed later, as data, must raise here instead."""
    if isinstance(value, jinja2.Undefined):
        str(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _raise_undefined(key)
            _raise_undefined(item)
    elif isinstance(value, list | tuple):
        for item in value:
            _raise_undefined(item)
