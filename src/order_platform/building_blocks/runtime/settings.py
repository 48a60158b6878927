"""Settings every service reads from the environment (12-factor); each service extends them.

A setting that is renamed keeps its old name for one release: list it in `renamed` (old field
name -> new one) of the class that holds it; a subclass's `renamed` adds to its bases'. The
old environment variable (or keyword) is still read, the new name wins when both are set, and
`warn_renamed()`, called once logging is configured, logs a WARNING that names both: the
variable to use instead, or, when both are set, that the old one is ignored.
"""

import ipaddress
import os
from collections.abc import Mapping
from typing import Any, ClassVar, Literal, Self

import structlog
from pydantic import (
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

log = structlog.get_logger(__name__)


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=None, extra="ignore", frozen=True)

    # Old field name -> new field name, accepted (with a warning) for one release.
    renamed: ClassVar[Mapping[str, str]] = {
        # Every order event (not only OrderCreated) goes to one topic since the lifecycle.
        "order_created_topic": "order_events_topic",
    }

    kafka_bootstrap_servers: str = "localhost:9092"
    # The embedded broker (Tansu) rejects InitProducerId, so `dev` and the tests turn this off.
    kafka_enable_idempotence: bool = True
    # The one topic of every order event (OrderCreated, OrderConfirmed, ...), keyed by order
    # id; dead letters go to `<topic>.<group>.dlq`.
    order_events_topic: str = "orders"
    mongodb_uri: str = "mongodb://localhost:27017"
    redis_url: str = "redis://localhost:6379/0"
    # Consumers: Tansu (embedded) joins a group in about session_timeout / 2.
    kafka_session_timeout_ms: int = 10_000
    kafka_heartbeat_interval_ms: int = 3_000
    # How often each consumer exports the group's lag for every partition of the topic.
    consumer_lag_interval_seconds: float = 5.0
    # A background task that keeps dying without a healthy run for this long makes the
    # process exit non-zero (status 70), so that an orchestrator restarts it.
    task_give_up_seconds: float = 60.0
    # On SIGTERM, how long background tasks get to finish what they hold (a consumer's batch
    # in flight); guarantee 6 wants the whole shutdown within 10 s.
    shutdown_timeout_seconds: float = 7.0
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "console"] = "console"
    # HTTP processes (guarantee 11): the request line and headers of one request may take at
    # most this many bytes (h11's default); beyond, 431 and the connection is closed.
    http_max_request_head_bytes: int = Field(default=16 * 1024, ge=1024, le=1024 * 1024)
    # HTTP processes: the reverse proxies in front of them, as comma-separated addresses or
    # networks (CIDR). Only a connection from one of them may name the client in
    # X-Forwarded-For; empty (the default): forwarded headers are ignored and the client is
    # the peer address. Forwarded and X-Real-IP are never read.
    trusted_proxies: str = ""

    # The old names that were given, each with whether its new name was given too.
    _renamed_in_use: tuple[tuple[str, bool], ...] = PrivateAttr(default=())

    @classmethod
    def renames(cls) -> dict[str, str]:
        """Every renamed setting of this class: its own `renamed` and its bases'."""
        merged: dict[str, str] = {}
        for klass in reversed(cls.__mro__):
            merged |= vars(klass).get("renamed", {})
        return merged

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        old_names = _OldEnvironmentNames(settings_cls, list(cls.renames()))
        return init_settings, env_settings, old_names, dotenv_settings, file_secret_settings

    @model_validator(mode="wrap")
    @classmethod
    def _accept_old_names(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        in_use: list[tuple[str, bool]] = []
        if isinstance(data, dict) and (renames := cls.renames()):
            data = dict(data)
            for old, new in renames.items():
                if old in data:
                    in_use.append((old, new in data))
                    value = data.pop(old)
                    data.setdefault(new, value)  # the new name wins when both are set
        settings = handler(data)
        if in_use:
            settings._renamed_in_use = tuple(in_use)
        return settings

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses_or_networks(cls, value: str) -> str:
        for entry in _comma_separated(value):
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                # uvicorn would compare a name (or "*") as a literal or trust everyone: refuse
                raise ValueError(
                    f"TRUSTED_PROXIES: {entry!r} is not an IP address or network"
                ) from None
        return value

    @property
    def trusted_proxy_list(self) -> list[str]:
        return _comma_separated(self.trusted_proxies)

    @property
    def renamed_in_use(self) -> tuple[str, ...]:
        """The old names this configuration was given (as environment variables)."""
        return tuple(old.upper() for old, _ in self._renamed_in_use)

    def warn_renamed(self) -> None:
        """One WARNING per old setting name that was used (call it once, at start)."""
        renames = self.renames()
        for old, new_given_too in self._renamed_in_use:
            old_name, new_name = old.upper(), renames[old].upper()
            log.warning(
                "deprecated_setting",
                category="DeprecationWarning",
                setting=old_name,
                use_instead=new_name,
                ignored=new_given_too,
                message=(
                    f"{old_name} is deprecated and ignored, since {new_name} is set too: "
                    f"remove {old_name}"
                    if new_given_too
                    else f"{old_name} is deprecated and is read for one more release only: "
                    f"set {new_name} instead"
                ),
            )


def _comma_separated(value: str) -> list[str]:
    return [entry.strip() for entry in value.split(",") if entry.strip()]


class _OldEnvironmentNames(PydanticBaseSettingsSource):
    """The environment variables of renamed settings, under their old names."""

    def __init__(self, settings_cls: type[BaseSettings], old_names: list[str]) -> None:
        super().__init__(settings_cls)
        self._old_names = old_names

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # no field has an old name: they are all renamed

    def __call__(self) -> dict[str, Any]:
        prefix = self.config.get("env_prefix", "")
        if self.config.get("case_sensitive", False):
            environment: Mapping[str, str] = os.environ
            names = {old: f"{prefix}{old}".upper() for old in self._old_names}
        else:
            environment = {name.lower(): value for name, value in os.environ.items()}
            names = {old: f"{prefix}{old}".lower() for old in self._old_names}
        return {old: environment[name] for old, name in names.items() if name in environment}


class HttpAuthSettings(ServiceSettings):
    """Bearer-token authentication of an HTTP service (docs/design.md, "Security").

    Without `AUTH_JWKS_URL` auth is off. With it, `AUTH_ISSUER` and `AUTH_AUDIENCE` are
    required: a token is accepted only from that issuer and for that audience. A deployment
    that sets `AUTH_REQUIRED=true` (the Compose file does) refuses to start with auth off
    unless `AUTH_DISABLED=true` says so explicitly.
    """

    auth_jwks_url: str = ""
    auth_required: bool = False
    auth_disabled: bool = False
    auth_issuer: str = ""
    auth_audience: str = ""
    # Clock skew allowed on `exp` and `nbf`; capped at 60 s whatever is configured.
    auth_leeway_seconds: float = Field(default=30.0, ge=0, le=60)
    auth_jwks_timeout_seconds: float = 5.0
    # An unknown `kid` refreshes the key set at most this often.
    auth_jwks_min_refresh_seconds: float = 30.0

    @model_validator(mode="after")
    def _issuer_and_audience_with_jwks(self) -> Self:
        if self.auth_jwks_url and not (self.auth_issuer and self.auth_audience):
            raise ValueError("AUTH_ISSUER and AUTH_AUDIENCE must be set with AUTH_JWKS_URL")
        if self.auth_jwks_url and self.auth_disabled:
            raise ValueError("AUTH_DISABLED=true contradicts AUTH_JWKS_URL: choose one")
        if self.auth_required and not self.auth_jwks_url and not self.auth_disabled:
            raise ValueError(
                "authentication is required here: set AUTH_JWKS_URL (with AUTH_ISSUER and "
                "AUTH_AUDIENCE), or AUTH_DISABLED=true to run without it"
            )
        return self
