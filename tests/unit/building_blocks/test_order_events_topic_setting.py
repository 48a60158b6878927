"""Every order event goes to one topic, ORDER_EVENTS_TOPIC (default `orders`); the old name
ORDER_CREATED_TOPIC is still read for one release, with a warning that names both."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from order_platform import cli
from order_platform.building_blocks.runtime import structured_logging
from order_platform.building_blocks.runtime.settings import ServiceSettings
from order_platform.console.infrastructure.settings import ConsoleSettings
from order_platform.notification_service.infrastructure.settings import (
    NotificationServiceSettings,
)
from order_platform.order_service.infrastructure.settings import OrderServiceSettings
from order_platform.read_service.infrastructure.settings import ReadServiceSettings

OLD, NEW = "ORDER_CREATED_TOPIC", "ORDER_EVENTS_TOPIC"
EVERY_PROCESS = [
    ServiceSettings,  # the operations commands (dlq)
    OrderServiceSettings,
    ReadServiceSettings,
    NotificationServiceSettings,
    ConsoleSettings,
]


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (OLD, NEW):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def deprecations(settings: ServiceSettings) -> list[dict[str, object]]:
    with capture_logs() as logs:
        settings.warn_renamed()
    return logs


@pytest.mark.parametrize("settings_class", EVERY_PROCESS)
def test_neither_set_the_topic_is_orders_without_a_warning(
    settings_class: type[ServiceSettings],
) -> None:
    settings = settings_class()

    assert settings.order_events_topic == "orders"
    assert settings.renamed_in_use == ()
    assert deprecations(settings) == []


@pytest.mark.parametrize("settings_class", EVERY_PROCESS)
def test_the_new_name_alone_is_read_without_a_warning(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[ServiceSettings]
) -> None:
    monkeypatch.setenv(NEW, "order-events")

    settings = settings_class()

    assert settings.order_events_topic == "order-events"
    assert deprecations(settings) == []


@pytest.mark.parametrize("settings_class", EVERY_PROCESS)
def test_only_the_old_name_set_its_value_is_used_with_a_warning_naming_both(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[ServiceSettings]
) -> None:
    monkeypatch.setenv(OLD, "order-created")

    settings = settings_class()

    assert settings.order_events_topic == "order-created"
    assert settings.renamed_in_use == (OLD,)
    [warning] = deprecations(settings)
    assert warning["event"] == "deprecated_setting"
    assert warning["log_level"] == "warning"
    assert warning["category"] == "DeprecationWarning"
    assert (warning["setting"], warning["use_instead"], warning["ignored"]) == (OLD, NEW, False)
    assert warning["message"] == (
        f"{OLD} is deprecated and is read for one more release only: set {NEW} instead"
    )


@pytest.mark.parametrize("settings_class", EVERY_PROCESS)
def test_both_set_the_new_name_wins_and_the_warning_says_the_old_one_is_ignored(
    monkeypatch: pytest.MonkeyPatch, settings_class: type[ServiceSettings]
) -> None:
    monkeypatch.setenv(OLD, "order-created")
    monkeypatch.setenv(NEW, "orders-v2")

    settings = settings_class()

    assert settings.order_events_topic == "orders-v2"
    [warning] = deprecations(settings)
    assert (warning["setting"], warning["use_instead"], warning["ignored"]) == (OLD, NEW, True)
    assert warning["message"] == (
        f"{OLD} is deprecated and ignored, since {NEW} is set too: remove {OLD}"
    )


def test_the_old_keyword_is_accepted_too() -> None:
    settings = ServiceSettings(order_created_topic="order-created")  # type: ignore[call-arg]

    assert settings.order_events_topic == "order-created"
    assert [entry["setting"] for entry in deprecations(settings)] == [OLD]


def test_a_service_renames_its_own_settings_besides_the_shared_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(OLD, "order-created")
    monkeypatch.setenv("NOTIFICATION_CONSUMER_GROUP", "old-workers")
    monkeypatch.delenv("CONSUMER_GROUP", raising=False)

    settings = NotificationServiceSettings()

    assert (settings.order_events_topic, settings.consumer_group) == (
        "order-created",
        "old-workers",
    )
    assert sorted(entry["setting"] for entry in deprecations(settings)) == [
        "NOTIFICATION_CONSUMER_GROUP",
        OLD,
    ]


def test_a_service_warns_once_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OLD, "order-created")
    monkeypatch.setattr(cli, "configure_logging", lambda **options: None)
    monkeypatch.setattr(cli, "configure_tracing", lambda service: None)

    with capture_logs() as logs:
        cli._observe("order-service", OrderServiceSettings())

    assert [entry["setting"] for entry in logs if entry["event"] == "deprecated_setting"] == [OLD]


def test_a_printing_command_sets_up_logging_only_to_warn(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configured: list[str] = []
    monkeypatch.setattr(
        structured_logging, "configure_logging", lambda **options: configured.append("logs")
    )

    with capture_logs() as quiet:
        structured_logging.log_renamed_settings(ServiceSettings(), command="order-platform-dlq")
    monkeypatch.setenv(OLD, "order-created")
    with capture_logs() as warned:
        structured_logging.log_renamed_settings(ServiceSettings(), command="order-platform-dlq")

    assert quiet == []
    assert configured == ["logs"]
    assert [entry["setting"] for entry in warned] == [OLD]
