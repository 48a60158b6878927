"""`order-platform read-model rebuild`: the command line of `read_model_rebuild`.

Runs with the read service's environment (MONGODB_URI, MONGODB_DATABASE, ...) plus
ORDER_SERVICE_URL (default http://localhost:8001). Progress goes to stderr (a bar on a
terminal, a line every few seconds otherwise), the summary to stdout.

Exit status: 0 rebuilt and switched (or a dry run); 1 the rebuild failed and nothing was
switched (the export was cut short, another rebuild holds the pointer, ...); 2 bad arguments;
69 the Order Service or the read model's MongoDB cannot be reached; 130 interrupted (nothing
switched, the half-built generation dropped).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Protocol, TextIO

from order_platform.building_blocks.runtime.settings import ServiceSettings
from order_platform.operations.read_model_rebuild import (
    RebuildFailed,
    RebuildOptions,
    RebuildReport,
    RebuildTarget,
    named,
    rebuild,
)

EXIT_OK = 0
EXIT_INTERRUPTED = 130
BAR_WIDTH = 30


class RebuildSettings(ServiceSettings):
    """What the command reads beyond the read service's settings (the CLI reads both at once)."""

    order_service_url: str = "http://localhost:8001"
    # With auth on, the export needs a bearer token with the `orders:admin` scope.
    order_service_token: str = ""


class ClosableTarget(RebuildTarget, Protocol):
    async def close(self) -> None: ...


def add_rebuild_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register `read-model rebuild` on the CLI's subcommands."""
    read_model = commands.add_parser(
        "read-model",
        help="operate the read model: rebuild it from the write model",
        description="The Order Read Service's read model. Reads the read service's "
        "environment (MONGODB_URI, MONGODB_DATABASE) and ORDER_SERVICE_URL.",
    )
    actions = read_model.add_subparsers(dest="read_model_command", required=True, metavar="ACTION")
    rebuild_parser = actions.add_parser(
        "rebuild",
        help="build a fresh read model from the Order Service's stored orders, switch to it "
        "atomically, drop the old one",
    )
    rebuild_parser.add_argument(
        "--dry-run", action="store_true", help="say what would be done, change nothing"
    )
    rebuild_parser.add_argument(
        "--keep-old", action="store_true", help="keep the previous read model for inspection"
    )


def run_rebuild(
    args: argparse.Namespace,
    settings: RebuildSettings,
    open_target: Callable[[], ClosableTarget],
    *,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    out, err = out or sys.stdout, err or sys.stderr
    options = RebuildOptions(
        order_service_url=settings.order_service_url.rstrip("/"),
        order_service_token=settings.order_service_token,
        dry_run=args.dry_run,
        keep_old=args.keep_old,
    )
    progress = TerminalProgress(err)
    try:
        report = asyncio.run(_run(open_target, options, progress))
    except RebuildFailed as error:
        print(f"read-model rebuild failed: {error}", file=err)
        return error.exit_code
    except KeyboardInterrupt:
        print("read-model rebuild interrupted: nothing was switched.", file=err)
        return EXIT_INTERRUPTED
    print(summary(report, options), file=out)
    return EXIT_OK


async def _run(
    open_target: Callable[[], ClosableTarget], options: RebuildOptions, progress: TerminalProgress
) -> RebuildReport:
    target = open_target()
    try:
        return await rebuild(target, options, progress)
    finally:
        with suppress(Exception):
            await target.close()


def summary(report: RebuildReport, options: RebuildOptions) -> str:
    if report.dry_run:
        old = "keep" if report.kept_old else "then drop"
        return (
            f"Dry run: would build read-model generation {report.generation!r} from the "
            f"{report.estimated_total:,} orders (estimated) that the Order Service at "
            f"{options.order_service_url} stores, switch readers from {named(report.previous)} "
            f"to it in one step, and {old} {named(report.previous)}. Nothing was changed."
        )
    old = "kept for inspection" if report.kept_old else "dropped"
    return (
        f"Rebuilt {report.orders:,} orders into read-model generation {report.generation!r} "
        f"in {report.seconds:.1f} s (copying {report.copy_seconds:.1f} s, {report.rate:,.0f} "
        f"orders/s); it is live, the previous generation {named(report.previous)} was {old}."
    )


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


class TerminalProgress:
    """A bar redrawn in place on a terminal; otherwise a plain line every `every` seconds."""

    def __init__(self, stream: TextIO, *, every: float = 5.0) -> None:
        self._stream = stream
        self._tty = stream.isatty()
        self._every = every
        self._total = 0
        self._started = time.monotonic()
        self._last_line: float | None = None  # not 0.0: monotonic() may be small after a boot
        self._drawn = False

    def started(self, total_estimate: int) -> None:
        self._total = total_estimate
        self._started = time.monotonic()
        self.note(f"copying about {total_estimate:,} stored orders from the Order Service")

    def advanced(self, done: int) -> None:
        elapsed = time.monotonic() - self._started
        rate = done / elapsed if elapsed > 0 else 0.0
        total = max(self._total, done)
        left = f"about {_duration((total - done) / rate)} left" if rate > 0 else "time left unknown"
        figures = f"{done:,}/{total:,} orders  {rate:,.0f}/s  {left}"
        if self._tty:
            filled = int(BAR_WIDTH * done / total) if total else BAR_WIDTH
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            self._stream.write(f"\r[{bar}] {figures}\033[K")
            self._stream.flush()
            self._drawn = True
        elif (
            self._last_line is None
            or time.monotonic() - self._last_line >= self._every
            or done >= total
        ):
            self._last_line = time.monotonic()
            print(f"rebuilt {figures}", file=self._stream, flush=True)

    def note(self, message: str) -> None:
        self.finished()
        print(message, file=self._stream, flush=True)

    def finished(self) -> None:
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
