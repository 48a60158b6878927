"""OAuth 2.0 bearer tokens (RFC 6750), verified locally against the provider's JWKS.

`Authenticator.authenticate(header)` turns an `Authorization` header into a `Caller` (the
token's `sub` and scopes) or raises: `Unauthenticated` (401, `WWW-Authenticate: Bearer`),
`AuthUnavailable` (503: no key to verify with). `Caller.require(scope)` raises `Forbidden`
(403); routes ask for both through one dependency, `require_scope(...)`.
`install_auth_problems` renders the three as problem+json. With auth off
(`AUTH_OFF`), every caller is anonymous and may do everything, as before auth existed.
An authenticator also owns its life in the service: its background work (`supervise`), what
readiness says about it (`readiness`) and its close (`aclose`), so composition roots need not
know which one they hold.

Only asymmetric algorithms are accepted: `none` and HMAC are refused whatever the token
says, so a public key can never serve as an HMAC secret. And only the algorithms the token's
key may verify (`jws_algorithms`): a header naming another one is refused before PyJWT sees
the token. The signature, `iss`, `aud`, `exp` and `nbf` are checked by PyJWT; no cryptography
is written here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Protocol

import jwt
import structlog
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import Counter

from order_platform.building_blocks.auth.jwks import JwksKeys, KeysUnavailable
from order_platform.building_blocks.auth.jws_algorithms import ASYMMETRIC_ALGORITHMS
from order_platform.building_blocks.http.current_api import current_api
from order_platform.building_blocks.http.problem import (
    install_details,
    problem_response,
    problem_responses,
)
from order_platform.building_blocks.runtime.health import Check
from order_platform.building_blocks.runtime.settings import HttpAuthSettings
from order_platform.building_blocks.runtime.task_supervisor import TaskSupervisor
from order_platform.contracts.errors import Unavailable
from order_platform.contracts.user_text import MAX_CUSTOMER_ID_LENGTH, first_control_character

log = structlog.get_logger(__name__)

MAX_LEEWAY_SECONDS = 60.0
# The subject is stored with the order as its `customerId`: the same rule.
MAX_SUBJECT_LENGTH = MAX_CUSTOMER_ID_LENGTH

REFUSED = Counter("auth_refused_total", "Requests refused by authentication", ["reason"])

SCOPE_WRITE = "orders:write"
SCOPE_READ = "orders:read"
SCOPE_ADMIN = "orders:admin"


class Unauthenticated(Exception):
    """No usable token: 401. `invalid` says a token was sent but refused."""

    def __init__(self, detail: str, *, invalid: bool) -> None:
        super().__init__(detail)
        self.detail = detail
        self.invalid = invalid


class Forbidden(Exception):
    """A valid token without the scope the route needs: 403."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope


class AuthUnavailable(Unavailable):
    """The provider's keys cannot be fetched and none is cached: 503, nothing is refused."""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling. `subject` is None only while auth is off (then every scope is held)."""

    subject: str | None
    scopes: frozenset[str] = field(default_factory=frozenset)
    auth_off: bool = False

    def has(self, scope: str) -> bool:
        return self.auth_off or scope in self.scopes

    def require(self, *any_of: str) -> None:
        if not any(self.has(scope) for scope in any_of):
            REFUSED.labels("scope").inc()
            raise Forbidden(" or ".join(any_of))


ANONYMOUS = Caller(subject=None, auth_off=True)


class Authenticator(Protocol):
    @property
    def enabled(self) -> bool: ...

    async def authenticate(self, authorization: str | None) -> Caller: ...

    def supervise(self, supervisor: TaskSupervisor) -> None:
        """Start the background work it needs while the service runs, if any."""
        ...

    def readiness(self) -> tuple[Mapping[str, str], Mapping[str, Check]]:
        """What readiness reports about it: notes, and optional checks."""
        ...

    async def aclose(self) -> None: ...


class AuthOff:
    enabled = False

    async def authenticate(self, authorization: str | None) -> Caller:
        return ANONYMOUS

    def supervise(self, supervisor: TaskSupervisor) -> None:
        pass  # nothing to keep fresh

    def readiness(self) -> tuple[Mapping[str, str], Mapping[str, Check]]:
        return {"auth": "disabled"}, {}  # said as a note: it is a choice, not a failure

    async def aclose(self) -> None:
        pass


AUTH_OFF = AuthOff()


class BearerTokens:
    """Verifies JWTs against the keys of `JwksKeys` for one issuer and audience."""

    enabled = True

    def __init__(
        self, keys: JwksKeys, *, issuer: str, audience: str, leeway_seconds: float = 30.0
    ) -> None:
        if not issuer or not audience:
            raise ValueError("AUTH_ISSUER and AUTH_AUDIENCE are required with AUTH_JWKS_URL")
        self.keys = keys
        self.issuer = issuer
        self.audience = audience
        self.leeway = min(max(leeway_seconds, 0.0), MAX_LEEWAY_SECONDS)

    def supervise(self, supervisor: TaskSupervisor) -> None:
        # Loads the keys at start and refreshes them, so withdrawn keys stop being accepted.
        supervisor.start("auth-keys", self.keys.keep_fresh)

    def readiness(self) -> tuple[Mapping[str, str], Mapping[str, Check]]:
        # Optional: a token that arrives before the keys are loaded gets a 503, nothing worse.
        return {}, {"auth": self.keys.check}

    async def aclose(self) -> None:
        await self.keys.close()

    async def authenticate(self, authorization: str | None) -> Caller:
        token = _bearer_token(authorization)
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise _invalid("malformed", "The bearer token is not a JWT.") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ASYMMETRIC_ALGORITHMS:
            raise _invalid("algorithm", "The token's signing algorithm is not accepted.")
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _invalid("malformed", "The token's key id is not a string.")
        try:
            key = await self.keys.key(kid)
        except KeysUnavailable as error:
            raise AuthUnavailable(str(error)) from error
        if key is None:
            raise _invalid("unknown_key", "The token is signed by an unknown key.")
        if algorithm not in key.algorithms:
            # PyJWT would raise TypeError for a key of another type (a 500), or verify with an
            # algorithm the provider never meant for this key (RFC 8725, 3.1).
            raise _invalid("algorithm", "The token's signing algorithm does not fit its key.")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise _invalid("expired", "The token has expired.") from None
        except jwt.ImmatureSignatureError:
            raise _invalid("not_yet_valid", "The token is not valid yet.") from None
        except jwt.InvalidIssuerError:
            raise _invalid("issuer", "The token was issued by another issuer.") from None
        except jwt.InvalidAudienceError:
            raise _invalid("audience", "The token is meant for another audience.") from None
        except jwt.PyJWTError:
            raise _invalid("invalid", "The token is not valid.") from None
        subject = claims.get("sub")
        if (
            not isinstance(subject, str)
            or len(subject) > MAX_SUBJECT_LENGTH
            # Stored data and log context: not one character that logs would have to escape
            # (guarantee 10), lone surrogates among them (a JWT's JSON may escape one).
            or not subject
            or first_control_character(subject) is not None
        ):
            raise _invalid("subject", "The token's subject is not usable.")
        scope = claims.get("scope", "")
        scopes = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
        return Caller(subject=subject, scopes=scopes)


def _bearer_token(authorization: str | None) -> str:
    if not authorization:
        REFUSED.labels("missing").inc()
        raise Unauthenticated("This route needs a bearer token.", invalid=False)
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        REFUSED.labels("missing").inc()
        raise Unauthenticated("Send the token as `Authorization: Bearer <JWT>`.", invalid=False)
    return token


def _invalid(reason: str, detail: str) -> Unauthenticated:
    REFUSED.labels(reason).inc()
    return Unauthenticated(detail, invalid=True)


# Declares the scheme in the OpenAPI document, so that `/docs` offers "Authorize" for a token.
# It only reads the header; `authenticate` decides (auto_error=False: our own 401 answers).
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    bearerFormat="JWT",
    description="An OAuth 2.0 access token (JWT) from the configured issuer. "
    "Scopes (claim `scope`): orders:write, orders:read, orders:admin.",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def authorization_header(request: Request, _: BearerCredentials) -> str | None:
    """The raw `Authorization` header; the dependency on `bearer_scheme` documents it.
    (`async`: FastAPI runs a plain `def` dependency in a worker thread, for every request.)"""
    return request.headers.get("authorization")


class ServedWithAuth(Protocol):
    """What `require_scope` needs of a service's API object (`current_api`)."""

    @property
    def auth(self) -> Authenticator: ...


def require_scope(*any_of: str) -> Callable[..., Awaitable[Caller]]:
    """A route dependency: the authenticated caller, holding at least one scope of `any_of`.

        caller: Annotated[Caller, Depends(require_scope(SCOPE_WRITE))]

    A route that declares it before its body refuses a caller before reading the body
    (guarantee 11): nothing reads ahead."""

    async def caller_with_scope(
        api: Annotated[ServedWithAuth, Depends(current_api)],
        authorization: Annotated[str | None, Depends(authorization_header)],
    ) -> Caller:
        caller = await api.auth.authenticate(authorization)
        caller.require(*any_of)
        return caller

    return caller_with_scope


def install_auth_problems(app: FastAPI) -> None:
    async def unauthenticated(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Unauthenticated)
        challenge = 'Bearer realm="order-platform"'
        if error.invalid:
            detail = error.detail.replace('"', "'")
            challenge += f', error="invalid_token", error_description="{detail}"'
        return problem_response(
            401,
            error.detail,
            type_="urn:order-platform:problem:unauthenticated",
            headers={"WWW-Authenticate": challenge},
        )

    async def forbidden(request: Request, error: Exception) -> JSONResponse:
        assert isinstance(error, Forbidden)
        return problem_response(
            403,
            f"The token lacks the scope this route needs: {error.scope}.",
            type_="urn:order-platform:problem:insufficient-scope",
            headers={
                "WWW-Authenticate": f'Bearer realm="order-platform", error="insufficient_scope", '
                f'scope="{error.scope.replace(" or ", " ")}"'
            },
        )

    app.add_exception_handler(Unauthenticated, unauthenticated)
    app.add_exception_handler(Forbidden, forbidden)
    install_details(
        app,
        {
            AuthUnavailable: "Tokens cannot be verified now "
            "(the identity provider's keys are unreachable)."
        },
    )


def auth_problem_responses() -> dict[int | str, dict[str, Any]]:
    return problem_responses(
        401, 403, s401="Missing or invalid bearer token.", s403="The token lacks the scope."
    )


def authenticator_from(settings: HttpAuthSettings, *, service: str) -> Authenticator:
    """Bearer tokens when `AUTH_JWKS_URL` is set; otherwise auth is off, said once, loudly."""
    if not settings.auth_jwks_url:
        log.warning(
            "auth_disabled",
            service=service,
            message="AUTH_JWKS_URL is not set: every route is open to anyone who can reach it",
        )
        return AUTH_OFF
    keys = JwksKeys(
        settings.auth_jwks_url,
        timeout_seconds=settings.auth_jwks_timeout_seconds,
        min_refresh_seconds=settings.auth_jwks_min_refresh_seconds,
    )
    log.info("auth_enabled", jwks=settings.auth_jwks_url, issuer=settings.auth_issuer)
    return BearerTokens(
        keys,
        issuer=settings.auth_issuer,
        audience=settings.auth_audience,
        leeway_seconds=settings.auth_leeway_seconds,
    )
