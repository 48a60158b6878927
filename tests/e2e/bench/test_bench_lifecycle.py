"""`make bench`'s lifecycle phase against the bench's own platform (fresh embedded servers and
the three services): orders placed in its setup are confirmed, then shipped, and every figure
the table prints is measured. Tiny counts and one second, so it stays a smoke test."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import aiohttp
import pytest

pytestmark = pytest.mark.slow

SCRIPTS = Path(__file__).resolve().parents[3] / "scripts"


@pytest.fixture(scope="module")
def bench() -> Iterator[ModuleType]:
    """scripts/bench.py, which imports its sibling bench_systems as a top-level module."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        yield importlib.import_module("bench")
    finally:
        sys.path.remove(str(SCRIPTS))


async def lifecycle_phase(bench: ModuleType, system: Any, orders: int) -> dict[str, Any]:
    args = argparse.Namespace(duration=1.0, concurrency=4, lifecycle_orders=orders)
    async with aiohttp.ClientSession() as session:
        return await bench.lifecycle(
            args,
            system,
            bench.Load(session, system),
            creation_cpu={"services": 2.0, "servers": 4.0},
        )


def test_lifecycle_phase_confirms_then_ships_orders_placed_before_and_measures_them(
    bench: ModuleType, tmp_path: Path
) -> None:
    system = bench.Platform(tmp_path, layout="one")
    try:
        figures = asyncio.run(lifecycle_phase(bench, system, orders=40))
    finally:
        system.close()

    assert figures["orders_placed_in_setup"] == 40
    assert figures["refused"] == {}
    assert figures["shipped"] > 0
    assert figures["confirmed"] >= figures["shipped"]
    assert figures["transitions"] == figures["confirmed"] + figures["shipped"]
    assert figures["per_second"] > 0
    assert figures["post"]["p50_ms"] > 0
    assert figures["freshness"]["give_ups"] == 0
    # Every transition was readable with its new version and notified: the end-to-end rate
    # is a number, not the NaN of a catch-up that never came.
    assert math.isfinite(figures["read_side_catch_up_after_load_s"])
    assert math.isfinite(figures["notified_after_load_s"])
    assert 0 < figures["fully_processed_per_second"] <= figures["per_second"]
    cpu = figures["cpu_ms_per_transition"]
    assert cpu["services"] > 0
    assert cpu["services_vs_creation"] == pytest.approx(cpu["services"] / 2.0, abs=0.01)
    assert cpu["servers_vs_creation"] == pytest.approx(cpu["servers"] / 4.0, abs=0.01)

    table = bench.lifecycle_table([{"platform": {"lifecycle": figures}}])
    for label, _ in bench.LIFECYCLE_TABLE:
        assert f"| {label} | " in table
    assert "| refused (not 200) | 0 |" in table
