"""How every HTTP process of the platform is served (three services and the console): uvicorn
with a bounded request head, and client addresses from forwarded headers only when one of the
configured proxies sent them (guarantee 11)."""

from __future__ import annotations

import uvicorn

from order_platform.building_blocks.http.request_head import BoundedHeadProtocol
from order_platform.building_blocks.runtime.settings import ServiceSettings


def server_config(
    app: object, *, host: str, port: int, settings: ServiceSettings
) -> uvicorn.Config:
    trusted_proxies = settings.trusted_proxy_list
    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        host=host,
        port=port,
        http=BoundedHeadProtocol.limited_to(settings.http_max_request_head_bytes),
        # uvicorn's default trusts X-Forwarded-For from 127.0.0.1 (or FORWARDED_ALLOW_IPS):
        # any local client could then pick its own address, and with it its rate-limit bucket.
        proxy_headers=bool(trusted_proxies),
        forwarded_allow_ips=trusted_proxies,
        access_log=False,
        log_config=None,
        timeout_graceful_shutdown=8,  # SIGTERM: finish in-flight work, exit within 10 s
        server_header=False,
    )
