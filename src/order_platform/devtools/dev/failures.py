"""What `dev` says when a part fails: one sentence for a taken port, else the error with the
tail of the part's log."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from order_platform.devtools.embedded import EmbeddedServerError, PortInUseError

_LOG_TAIL_LINES = 15


class DevError(Exception):
    """A problem the developer can fix from the command line; printed as is, exit code 1."""


def describe_failures(errors: Iterable[BaseException]) -> str:
    """One paragraph per failed part: a port conflict in a sentence, else the error with its log."""
    flat: list[BaseException] = []
    for error in errors:
        if isinstance(error, BaseExceptionGroup):
            flat += _flatten(error)
        else:
            flat.append(error)
    messages = []
    for error in flat:
        if isinstance(error, PortInUseError):
            messages.append(with_hint(error))
        elif isinstance(error, EmbeddedServerError | OSError):
            messages.append(str(error))
        else:
            messages.append(f"{type(error).__name__}: {error}")
    return "\n".join(messages)


def with_hint(error: PortInUseError) -> str:
    """The port conflict, and which options move the part elsewhere."""
    flag = {
        "order-service": "--order-port",
        "read-service": "--read-port",
        "notification-service": "--notification-port",
        "console": "--console-port",
    }.get(error.server_name)
    options = f"{flag} or --port-base" if flag else "--port-base"
    return f"{error} ({options} choose others)"


def log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return f"(no log at {path})"
    tail = "\n".join(text.splitlines()[-lines:]) or "(empty)"
    return f"last lines of {path}:\n{tail}"


def _flatten(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for error in group.exceptions:
        found += _flatten(error) if isinstance(error, BaseExceptionGroup) else [error]
    return found
