"""`order-platform dev`: the embedded servers and every service as child processes, one command."""

from order_platform.devtools.dev.supervisor import DevError, DevOptions, PortPlan, run_dev

__all__ = ["DevError", "DevOptions", "PortPlan", "run_dev"]
