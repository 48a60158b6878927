"""What `dev` prints: with auth on, the demo token once (`export TOKEN=…`) and every curl with
`$TOKEN`; with `--no-auth`, no token, and the banner says that every route is open. Each
command of an order's life has its curl, on the order whose id the banner keeps in ORDER_ID."""

from __future__ import annotations

from pathlib import Path

from order_platform.devtools.dev.banner import banner
from order_platform.devtools.dev.options import DevOptions
from order_platform.devtools.embedded import EmbeddedServers, PlatformService


def services(tmp_path: Path) -> list[PlatformService]:
    return [
        PlatformService(name, env={}, port=port, log_dir=tmp_path)
        for name, port in (("order-service", 8001), ("read-service", 8002))
    ]


TOKEN = "abc.def.ghi"


def commands(text: str) -> list[str]:
    """The printed shell commands (lines indented by two, continuations joined), as run."""
    joined: list[str] = []
    for line in text.splitlines():
        if joined and joined[-1].endswith("\\"):
            joined[-1] = joined[-1][:-1] + line.strip()
        elif line.startswith(("  curl ", "  export ", "  ORDER_ID=")):
            joined.append(line.strip())
    return joined


def test_with_auth_the_token_is_printed_once_and_every_curl_uses_it(tmp_path: Path) -> None:
    servers = EmbeddedServers(port_base=8010, log_dir=tmp_path)
    text = banner(DevOptions(), services(tmp_path), servers, tmp_path, token=TOKEN)

    printed = commands(text)
    curls = [command for command in printed if "curl " in command]
    assert text.count(TOKEN) == 1
    assert printed[0] == f"export TOKEN={TOKEN}"
    assert len(curls) == 7
    assert all('-H "Authorization: Bearer $TOKEN"' in curl for curl in curls)
    assert "demo-customer" in text
    assert "orders:admin" in text, "confirm and ship need it"


def test_every_command_of_an_orders_life_has_its_curl(tmp_path: Path) -> None:
    servers = EmbeddedServers(port_base=8010, log_dir=tmp_path)
    text = banner(DevOptions(), services(tmp_path), servers, tmp_path, token=TOKEN)

    printed = commands(text)
    [keep_id] = [command for command in printed if command.startswith("ORDER_ID=$(")]
    order = "http://127.0.0.1:8001/orders/$ORDER_ID"
    assert "curl -s http://127.0.0.1:8001/orders " in keep_id
    assert keep_id.endswith("""python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')""")
    assert any(command.startswith(f"curl -si {order} ") for command in printed)
    assert any(f"-X POST {order}/confirm " in command for command in printed)
    [ship] = [command for command in printed if f"{order}/ship " in command]
    assert ship.endswith("""-d '{"trackingNumber": "TRACK-0001"}'""")
    [cancel] = [command for command in printed if f"{order}/cancel " in command]
    assert cancel.endswith("""-d '{"reason": "changed my mind"}'""")
    assert printed.index(keep_id) < printed.index(ship) < printed.index(cancel)


def test_without_auth_the_banner_says_everything_is_open(tmp_path: Path) -> None:
    servers = EmbeddedServers(port_base=8010, log_dir=tmp_path)
    text = banner(DevOptions(auth=False), services(tmp_path), servers, tmp_path)

    assert "Authorization" not in text
    assert "TOKEN" not in text
    assert len(commands(text)) == 7
    assert "OFF (--no-auth): every route is open" in text
