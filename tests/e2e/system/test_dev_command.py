"""`order-platform dev` as a developer runs it: up, the printed curls work as printed (the token
printed once, as `export TOKEN=…`, each curl using `$TOKEN`; an order placed, confirmed and
shipped, another cancelled), the notification shows in the terminal once, Ctrl-C leaves no
process behind, a taken port is one sentence.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from order_platform.devtools.dev import DevError, DevOptions, PortPlan
from tests.support.waiting import wait_until

pytestmark = pytest.mark.slow


def free_port_base() -> int:
    """A base whose whole port plan is free right now (a few random tries)."""
    for _ in range(20):
        base = random.randrange(20_000, 60_000, 100)
        try:
            PortPlan.of(DevOptions(port_base=base)).check("127.0.0.1")
        except DevError:
            continue
        return base
    raise AssertionError("no free port base found")


def children(pid: int) -> set[int]:
    """Direct children of `pid` (each service and server leads its own process group)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def alive(pids: set[int]) -> set[int]:
    return {pid for pid in pids if Path(f"/proc/{pid}").exists()}


def printed_commands(banner: str) -> list[str]:
    """The banner's shell commands (continuation lines joined), exactly as printed."""
    commands: list[str] = []
    for line in banner.splitlines():
        if commands and commands[-1].endswith("\\"):
            commands[-1] += "\n" + line
        elif line.startswith(("  curl ", "  export ", "  ORDER_ID=")):
            commands.append(line)
    return commands


def printed(banner: str, *needles: str) -> str:
    """The one printed command holding every needle."""
    [command] = [c for c in printed_commands(banner) if all(n in c for n in needles)]
    return command


def run_printed(*commands: str) -> list[str]:
    """Run the commands in one shell, as pasted; each one's output, apart."""
    script = "\n".join(f"{command}\necho; echo ---" for command in commands)
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    return [output.strip() for output in done.stdout.split("\n---\n")][: len(commands)]


def test_dev_serves_the_printed_curl_shows_the_notification_and_stops_cleanly(
    tmp_path: Path,
) -> None:
    base = free_port_base()
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    # The dev key goes to $XDG_DATA_HOME/order-platform: here, the test's own directory.
    env = {**os.environ, "LOG_FORMAT": "console", "XDG_DATA_HOME": str(tmp_path / "data")}
    with out.open("wb") as stdout, err.open("wb") as stderr:
        dev = subprocess.Popen(
            [sys.executable, "-m", "order_platform.cli", "dev", "--port-base", str(base)],
            stdout=stdout,
            stderr=stderr,
            env=env,
        )
    try:
        wait_until(
            lambda: "Ctrl-C stops everything" in err.read_text() or dev.poll() is not None,
            timeout=60,
            what="dev up",
        )
        banner = err.read_text()
        assert dev.poll() is None, banner
        [export] = [c for c in printed_commands(banner) if c.startswith("  export TOKEN=")]
        token = export.removeprefix("  export TOKEN=")
        assert banner.count(token) == 1, "the token is printed once"
        curls = [c for c in printed_commands(banner) if "curl " in c]
        assert len(curls) == 7
        assert all('-H "Authorization: Bearer $TOKEN"' in curl for curl in curls)
        spawned = children(dev.pid)
        assert len(spawned) >= 6, spawned  # three servers, three services

        # Auth is on by default: without a token, nothing is created.
        refused = httpx.post(
            f"http://127.0.0.1:{base + 1}/orders",
            json={"customerName": "Lucas", "totalAmount": 199.90},
            timeout=10,
        )
        assert refused.status_code == 401
        # The printed curl, run as printed after the printed export, creates the order.
        [_, answer] = run_printed(export, printed(banner, "curl -si", "/orders -H"))
        assert answer.startswith("HTTP/1.1 201"), answer
        created = json.loads(answer.splitlines()[-1])
        assert created["customerId"] == "demo-customer"
        line = f"📩 Notification sent to Lucas | Order: {created['id']} | Total: $199.90"
        wait_until(lambda: line in out.read_text(), timeout=15, what="notification shown")

        # An order's life, as printed: its id kept in ORDER_ID, then read, confirmed, shipped;
        # another one (the same line again) cancelled.
        keep_id = printed(banner, "ORDER_ID=$(")
        _, state, confirmed, shipped = run_printed(
            export,
            keep_id,
            printed(banner, "curl -si", "/orders/$ORDER_ID "),
            printed(banner, "/confirm"),
            printed(banner, "/ship"),
        )[1:]
        assert state.startswith("HTTP/1.1 200"), state
        assert 'etag: "1"' in state.lower()
        assert json.loads(state.splitlines()[-1])["status"] == "placed"
        assert (json.loads(confirmed)["status"], json.loads(confirmed)["version"]) == (
            "confirmed",
            2,
        )
        assert (json.loads(shipped)["status"], json.loads(shipped)["trackingNumber"]) == (
            "shipped",
            "TRACK-0001",
        )
        [_, _, cancelled] = run_printed(export, keep_id, printed(banner, "/cancel"))
        assert json.loads(cancelled)["status"] == "cancelled"
        assert json.loads(cancelled)["cancellationReason"] == "changed my mind"

        # The operator console reads every service with its own admin token: all four hops.
        def hops_in_console() -> list[str]:
            answer = httpx.get(f"http://127.0.0.1:{base + 4}/api/orders/{created['id']}")
            return [hop["state"] for hop in answer.json().get("hops", [])]

        def all_reached() -> bool:
            return hops_in_console() == ["reached"] * 4

        wait_until(all_reached, timeout=20, what="all four hops reached in the console")

        # `order-platform token` mints with the same key: another customer sees none of it.
        minted = subprocess.run(
            [sys.executable, "-m", "order_platform.cli", "token", "--sub", "bob",
             "--scope", "orders:read", "--ttl", "5m"],
            capture_output=True, text=True, timeout=30, env=env, check=True,
        ).stdout.strip()  # fmt: skip
        reads = f"http://127.0.0.1:{base + 2}/orders"
        bobs = httpx.get(reads, headers={"Authorization": f"Bearer {minted}"}, timeout=10)
        assert bobs.status_code == 200
        assert bobs.json() == []
        hidden = httpx.get(
            f"{reads}/{created['id']}", headers={"Authorization": f"Bearer {minted}"}, timeout=10
        )
        assert hidden.status_code == 404
    finally:
        dev.send_signal(signal.SIGINT)
        code = dev.wait(timeout=30)
    assert code == 0, err.read_text()
    assert out.read_text().count(line) == 1
    assert not alive(spawned), "nothing left behind"
    key = tmp_path / "data" / "order-platform" / "dev-signing-key.pem"
    assert key.stat().st_mode & 0o077 == 0, "the dev key is readable by its owner only"


def test_dev_reports_a_taken_service_port_in_one_sentence(tmp_path: Path) -> None:
    base = free_port_base()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", base + 1))
        taken.listen()
        result = subprocess.run(
            [sys.executable, "-m", "order_platform.cli", "dev", "--port-base", str(base)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"could not start: order-service: port {base + 1} on 127.0.0.1 is already in use by "
        "another process; stop that process or choose another port "
        "(--order-port or --port-base choose others)"
    )
