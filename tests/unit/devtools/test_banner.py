"""What `dev` prints: with auth on, the curl lines carry the demo token; with `--no-auth`,
none, and the banner says that every route is open."""

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


def test_with_auth_every_curl_carries_the_token(tmp_path: Path) -> None:
    servers = EmbeddedServers(port_base=8010, log_dir=tmp_path)
    text = banner(DevOptions(), services(tmp_path), servers, tmp_path, token="abc.def.ghi")

    curls = [line for line in text.splitlines() if line.strip().startswith("curl")]
    assert len(curls) == 2
    assert all("-H 'Authorization: Bearer abc.def.ghi'" in line for line in curls)
    assert "demo-customer" in text


def test_without_auth_the_banner_says_everything_is_open(tmp_path: Path) -> None:
    servers = EmbeddedServers(port_base=8010, log_dir=tmp_path)
    text = banner(DevOptions(auth=False), services(tmp_path), servers, tmp_path)

    assert "Authorization" not in text
    assert "OFF (--no-auth): every route is open" in text
