"""`order-platform dev` as a command: Ctrl-C, SIGTERM and SIGHUP stop it; the exit code says how
it ended (0 stopped by the developer, 1 a part failed to start or died)."""

from __future__ import annotations

import signal
import threading

from order_platform.devtools.dev.failures import DevError
from order_platform.devtools.dev.messages import say
from order_platform.devtools.dev.options import DevOptions
from order_platform.devtools.dev.supervisor import DevSupervisor


def run_dev(options: DevOptions) -> int:
    stop = threading.Event()
    handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    previous = {signum: signal.signal(signum, lambda *_: stop.set()) for signum in handled}
    try:
        return DevSupervisor(options, stop).run()
    except DevError as error:
        say(f"could not start: {error}")
        return 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
