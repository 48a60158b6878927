"""How `read-model rebuild` reports: a bar on a terminal, lines otherwise, one summary."""

from __future__ import annotations

import io

from order_platform.operations.read_model_rebuild import RebuildOptions, RebuildReport
from order_platform.operations.rebuild_command import TerminalProgress, summary


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_one_bar_redrawn_in_place_with_rate_and_time_left() -> None:
    terminal = Terminal()
    progress = TerminalProgress(terminal)
    progress.started(4000)

    progress.advanced(1000)
    progress.advanced(2000)
    progress.finished()

    drawn = terminal.getvalue().split("\r")
    assert drawn[0] == "copying about 4,000 stored orders from the Order Service\n"
    assert drawn[1].startswith("[" + "#" * 7 + "-" * 23 + "] 1,000/4,000 orders")
    assert drawn[2].startswith("[" + "#" * 15 + "-" * 15 + "] 2,000/4,000 orders")
    assert "/s  about" in drawn[2]
    assert "left" in drawn[2]
    assert terminal.getvalue().endswith("\n")


def test_off_a_terminal_a_line_every_few_seconds_and_the_last_one() -> None:
    log = io.StringIO()
    progress = TerminalProgress(log, every=3600)
    progress.started(3000)

    for done in (1000, 2000, 3000):
        progress.advanced(done)

    lines = log.getvalue().splitlines()
    assert [line.split("  ")[0] for line in lines[1:]] == [
        "rebuilt 1,000/3,000 orders",
        "rebuilt 3,000/3,000 orders",
    ]


def test_the_summary_says_what_was_done_or_would_be() -> None:
    options = RebuildOptions(order_service_url="http://orders:8001")
    done = RebuildReport("g2", "g1", 10_000, 11.3, kept_old=False, copy_seconds=5.0)
    dry = RebuildReport("g2", "g1", 0, 0.0, kept_old=True, dry_run=True, estimated_total=1234)

    assert summary(done, options) == (
        "Rebuilt 10,000 orders into read-model generation 'g2' in 11.3 s (copying 5.0 s, "
        "2,000 orders/s); it is live, the previous generation 'g1' was dropped."
    )
    assert summary(dry, options) == (
        "Dry run: would build read-model generation 'g2' from the 1,234 orders (estimated) "
        "that the Order Service at http://orders:8001 stores, switch readers from 'g1' to it "
        "in one step, and keep 'g1'. Nothing was changed."
    )
    first = RebuildReport("g2", "", 1, 1.0, kept_old=True, copy_seconds=1.0)
    assert summary(first, options).endswith(
        "the previous generation '' (the original orders and timeline) was kept for inspection."
    )
