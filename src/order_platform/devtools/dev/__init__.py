"""`order-platform dev`: the embedded servers and every service as child processes, one command.

One module, one job: `options` (what the developer asked for), `port_plan` (every port, decided
and checked before anything starts), `supervisor` (start, watch and stop the child processes),
`banner` (what is up, the operator console's URL, and curls that work), `log_follower` (the
services' notification and error lines on the terminal), `failures` (what `dev` says when a
part fails), `console` (where it says it: the terminal, not the operator console, which is
`order_platform.console`), `command` (signals and the exit code).
"""

from order_platform.devtools.dev.command import run_dev
from order_platform.devtools.dev.failures import DevError
from order_platform.devtools.dev.options import DevOptions
from order_platform.devtools.dev.port_plan import PortPlan

__all__ = ["DevError", "DevOptions", "PortPlan", "run_dev"]
