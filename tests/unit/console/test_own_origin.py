"""Which names the console answers to: `host[:port]` as browsers send it, and the default
list made from the address it listens on."""

from __future__ import annotations

import pytest

from order_platform.console.entrypoints.own_origin import AllowedHost, authority
from order_platform.console.infrastructure.settings import ConsoleSettings


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("LocalHost:8004", ("localhost", 8004)),
        ("127.0.0.1", ("127.0.0.1", None)),
        ("[::1]:8004", ("[::1]", 8004)),
        ("ops.example.com", ("ops.example.com", None)),
        ("::1", None),  # IPv6 only in brackets, as in a URL
        ("localhost:0", None),
        ("localhost:65536", None),
        ("localhost:80:80", None),
        ("user@localhost", None),
        ("localhost/x", None),
        ("", None),
    ],
)
def test_a_host_is_a_name_or_an_ip_literal_with_an_optional_port(
    text: str, parsed: tuple[str, int | None] | None
) -> None:
    assert authority(text) == parsed


def test_an_allowed_host_without_a_port_admits_any_port() -> None:
    assert AllowedHost.parse("ops.example.com").admits("ops.example.com", 443)
    assert AllowedHost.parse("localhost:8004").admits("localhost", 8004)
    assert not AllowedHost.parse("localhost:8004").admits("localhost", 8005)
    with pytest.raises(ValueError, match="not a host"):
        AllowedHost.parse("*.example.com")


def test_unset_it_answers_to_its_bind_address_and_the_loopback_names_on_its_port() -> None:
    def allowed(host: str, configured: str = "") -> list[str]:
        settings = ConsoleSettings(console_allowed_hosts=configured)
        return settings.bound_to(host, 8004).allowed_host_list

    loopback = ["localhost:8004", "127.0.0.1:8004", "[::1]:8004"]
    assert allowed("127.0.0.1") == loopback
    assert allowed("0.0.0.0") == loopback
    assert allowed("10.1.2.3") == ["10.1.2.3:8004", *loopback]
    assert allowed("fd00::7") == ["[fd00::7]:8004", *loopback]
    assert allowed("0.0.0.0", "ops.example.com, console.internal:8443") == [
        "ops.example.com",
        "console.internal:8443",
    ]
