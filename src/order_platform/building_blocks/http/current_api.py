"""The service's application object as a route dependency:
`api: Annotated[OrderServiceApi, Depends(current_api)]`."""

from typing import Any

from fastapi import Request


async def current_api(request: Request) -> Any:
    """What the composition root started (`Started.api`), kept by the lifespan in the app.

    A coroutine, so FastAPI calls it on the event loop, not through its thread pool."""
    return request.app.state.api
