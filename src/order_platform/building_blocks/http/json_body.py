"""A request body as a typed route parameter: JSON only, numbers as `Decimal`, validated.

Every refusal goes through the service's problem handlers: a body that is not JSON by its
content type is 415, one that does not parse, holds a number out of `Decimal`'s range or does
not validate raises the framework's `RequestValidationError`, so one handler renders every 422.
"""

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from order_platform.building_blocks.http.decimal_json import NotJson, NumberOutOfRange, parse_json
from order_platform.building_blocks.http.problem import InvalidRequest


def is_json(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class JsonBody[M: BaseModel]:
    """A dependency: `body: Annotated[Model, Depends(JsonBody(Model))]`.

    FastAPI's own body parsing would read numbers as floats, so the route declares no body
    parameter and documents the body with `openapi_extra=JsonBody(Model).openapi`.
    """

    def __init__(self, model: type[M], *, what: str = "the body", optional: bool = False) -> None:
        self.model = model
        self.unsupported = f"Send {what} as application/json."
        # Optional: no body at all reads as `{}`, whatever the content type says.
        self.optional = optional

    async def __call__(self, request: Request) -> M:
        if not is_json(request.headers.get("content-type", "")):
            if self.optional and not await request.body():
                return self.model.model_validate({})
            raise HTTPException(415, self.unsupported)
        raw = await request.body()
        if self.optional and not raw:
            return self.model.model_validate({})
        try:
            document = parse_json(raw)
        except NumberOutOfRange as error:
            raise InvalidRequest(f"The body holds a number it cannot take: {error}.") from error
        except NotJson as error:
            raise InvalidRequest(f"The body is not valid JSON: {error}") from error
        try:
            return self.model.model_validate(document)
        except ValidationError as error:
            raise RequestValidationError(
                [{**item, "loc": ("body", *item["loc"])} for item in error.errors()]
            ) from error

    @property
    def openapi(self) -> dict[str, Any]:
        """The `requestBody` of the route's OpenAPI operation."""
        return {
            "requestBody": {
                "required": not self.optional,
                "content": {
                    "application/json": {"schema": self.model.model_json_schema(by_alias=True)}
                },
            }
        }
