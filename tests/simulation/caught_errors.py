"""Programming errors that a process's catch-all handler swallowed during a run.

The relay's loops, the consumers' retries and the task supervisor catch `Exception` on
purpose: a dependency's failure must not kill them. A programming error (an `AttributeError`,
a `TypeError`...) caught there is shrugged off as well: it shows only as what it delays, and
a run that it does not delay past a bound passes. No fault the simulator injects is of such a
type, so one caught by a catch-all handler of the platform's code is a defect (of the code, or
of the simulator's fakes) and fails the run.

Python's `sys.monitoring` reports every exception handled anywhere (it cannot be limited to
some functions); the callback keeps only those handled in the platform's source, in a `try`
whose first handler to match the error is a catch-all (`except Exception`, `except
BaseException`, a bare `except`), read off the source once with `ast`.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import CodeType, TracebackType

import order_platform

SOURCE = Path(order_platform.__file__).resolve().parent
_SOURCE_PREFIX = str(SOURCE)  # compared on every exception handled, anywhere
PROGRAMMING_ERRORS = (
    AttributeError,
    TypeError,
    NameError,
    LookupError,  # KeyError, IndexError
    ValueError,
    AssertionError,
    ArithmeticError,
    RecursionError,
)
CATCH_ALL = frozenset({"Exception", "BaseException"})
_monitoring = sys.monitoring


@dataclass(frozen=True)
class _Try:
    first_line: int  # of the `try` body
    last_line: int
    handlers: tuple[frozenset[str] | None, ...]  # names each handler catches; None: bare


def _names(handler: ast.ExceptHandler) -> frozenset[str] | None:
    if handler.type is None:
        return None
    nodes = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return frozenset(
        node.id if isinstance(node, ast.Name) else node.attr
        for node in nodes
        if isinstance(node, ast.Name | ast.Attribute)
    )


@cache
def _tries(filename: str) -> tuple[_Try, ...]:
    """Every `try` of a source file that has a catch-all handler, innermost last."""
    tree = ast.parse(Path(filename).read_text(), filename)
    found: list[_Try] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Try | ast.TryStar) and node.body:
            handlers = tuple(_names(handler) for handler in node.handlers)
            if any(names is None or names & CATCH_ALL for names in handlers):
                last = node.body[-1].end_lineno or node.body[-1].lineno
                found.append(_Try(node.body[0].lineno, last, handlers))
    return tuple(sorted(found, key=lambda t: (t.first_line, -t.last_line)))


def _line(code: CodeType, error: BaseException) -> int | None:
    """Where in `code` the error came from: its traceback's entry for the handling frame (the
    event's offset is the handler's, which has no line)."""
    traceback = error.__traceback__
    while traceback is not None:
        if traceback.tb_frame.f_code is code:
            return traceback.tb_lineno
        traceback = traceback.tb_next
    return None


def _caught_by_catch_all(code: CodeType, line: int | None, error: BaseException) -> bool:
    if line is None:
        return False
    enclosing = [t for t in _tries(code.co_filename) if t.first_line <= line <= t.last_line]
    if not enclosing:
        return False  # handled by a `try` with no catch-all handler
    innermost = enclosing[-1]
    kinds = {kind.__name__ for kind in type(error).__mro__}
    for names in innermost.handlers:
        if names is None or names & CATCH_ALL:
            return True
        if names & kinds:
            return False  # a handler that names the error: the code expects it
    return False


@dataclass
class CaughtErrors:
    """While entered, records each programming error a catch-all handler of the platform's
    code swallowed, as `where: error`."""

    found: list[str] = field(default_factory=list)
    _tool: int | None = None

    def _handled(self, code: CodeType, offset: int, error: BaseException) -> object:
        if isinstance(error, PROGRAMMING_ERRORS) and code.co_filename.startswith(_SOURCE_PREFIX):
            line = _line(code, error)
            if _caught_by_catch_all(code, line, error):
                where = f"{Path(code.co_filename).relative_to(SOURCE.parent)}:{line}"
                self.found.append(f"{code.co_qualname} ({where}) caught {error!r}")
        return None

    def __enter__(self) -> CaughtErrors:
        self._tool = next(_free_tools())
        _monitoring.use_tool_id(self._tool, "simulation: caught errors")
        _monitoring.register_callback(
            self._tool, _monitoring.events.EXCEPTION_HANDLED, self._handled
        )
        _monitoring.set_events(self._tool, _monitoring.events.EXCEPTION_HANDLED)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        assert self._tool is not None
        _monitoring.set_events(self._tool, _monitoring.events.NO_EVENTS)
        _monitoring.register_callback(self._tool, _monitoring.events.EXCEPTION_HANDLED, None)
        _monitoring.free_tool_id(self._tool)
        self._tool = None


def _free_tools() -> Iterator[int]:
    # 0-2 and 5 are the debugger's, coverage's, the profiler's and the optimizer's by convention.
    for tool in (4, 3, 5, 2, 1, 0):
        if _monitoring.get_tool(tool) is None:
            yield tool
    raise RuntimeError("every sys.monitoring tool id is taken")
