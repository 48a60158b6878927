"""`make simulate`: run seeds of the deterministic simulation (see `order_pipeline`).

    python -m tests.simulation --seed 121        # one run, its whole trace
    python -m tests.simulation --seeds 100000    # many runs: a progress bar, then a summary
    python -m tests.simulation --shrink 200      # hypothesis looks for a failing run, shrinks it

A failing seed prints its violation and the command that replays it exactly.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor

import structlog

from tests.simulation.order_pipeline import RunReport, simulate
from tests.simulation.shrinking import shortest_failure


def _quiet() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))


def _run(seed: int) -> RunReport:
    report = simulate(seed)
    report.trace = [] if report.violation is None else report.trace
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make simulate", description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, help="replay this seed and print its trace")
    parser.add_argument("--seeds", type=int, default=1000, help="how many seeds to run")
    parser.add_argument("--first", type=int, default=0, help="the first seed of the range")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--shrink", type=int, metavar="N", help="let hypothesis try N scenarios, shrink a failure"
    )
    args = parser.parse_args(argv)
    _quiet()
    if args.shrink is not None:
        found = shortest_failure(examples=args.shrink, runs=args.shrink * 4)
        if found is None:
            print(f"every invariant held in the {args.shrink} scenarios hypothesis chose")
            return 0
        scenario, failure = found
        print("\n".join(failure.trace))
        print(f"shortest failing run, {len(failure.trace)} steps: {failure.violation}")
        print(f"its scenario (replays with simulate({scenario.seed}, scenario)): {scenario}")
        return 1
    if args.seed is not None:
        report = simulate(args.seed)
        print("\n".join(report.trace))
        print(f"seed {args.seed}: {report.violation or 'every invariant holds'}")
        return 1 if report.violation else 0

    started = time.monotonic()
    faults: Counter[str] = Counter()
    steps = orders = stored = duplicates = notified_twice = checked = changed = commands = 0
    failures: list[RunReport] = []
    seeds = range(args.first, args.first + args.seeds)
    with ProcessPoolExecutor(args.jobs, initializer=_quiet) as pool:
        for done, report in enumerate(pool.map(_run, seeds, chunksize=16), start=1):
            faults.update(report.faults)
            steps += report.steps
            orders += report.orders
            stored += report.stored
            duplicates += report.duplicates
            notified_twice += report.notified_twice
            changed += report.changes
            commands += report.commands
            checked += report.invariants_checked
            if report.violation:
                failures.append(report)
                print(f"\nseed {report.seed}: {report.violation}", file=sys.stderr)
            if done % 25 == 0 or done == len(seeds):
                width = 40
                filled = width * done // len(seeds)
                rate = done / max(time.monotonic() - started, 1e-9)
                print(
                    f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{len(seeds)} seeds"
                    f"  {rate:.0f}/s  {len(failures)} failed",
                    end="",
                    file=sys.stderr,
                    flush=True,
                )
    print(file=sys.stderr)
    print(
        f"seeds {seeds.start}..{seeds.stop - 1}: {len(seeds)} runs in {time.monotonic() - started:.0f} s"
    )
    print(f"steps (calls to MongoDB and the broker): {steps}")
    print(
        f"orders placed: {orders}, stored: {stored}; events published again: {duplicates},"
        f" customers notified twice: {notified_twice}"
    )
    print(f"order changes: {commands} commands sent, {changed} changes stored")
    print("faults injected: " + ", ".join(f"{k} {v}" for k, v in sorted(faults.items())))
    print(f"invariants checked: {checked}")
    print(f"failures: {len(failures)}")
    for report in failures:
        print(f"  make simulate SEED={report.seed}   # {report.violation}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
