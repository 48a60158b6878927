"""The worker's settings use the read service's names; the old names still work for a release."""

from __future__ import annotations

import pytest
from structlog.testing import capture_logs

from order_platform import cli
from order_platform.notification_service.infrastructure.settings import (
    NotificationServiceSettings,
)

NAMES = (
    "CONSUMER_GROUP",
    "CONSUMER_MAX_BATCH",
    "NOTIFICATION_CONSUMER_GROUP",
    "NOTIFICATION_BATCH_SIZE",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in NAMES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def deprecations(settings: NotificationServiceSettings) -> list[dict[str, object]]:
    with capture_logs() as logs:
        settings.warn_renamed()
    return logs


def test_the_defaults_are_unchanged() -> None:
    settings = NotificationServiceSettings()

    assert settings.consumer_group == "notification-service"
    assert settings.consumer_max_batch == 32
    assert deprecations(settings) == []


def test_the_new_names_are_read_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONSUMER_GROUP", "workers")
    monkeypatch.setenv("CONSUMER_MAX_BATCH", "64")

    settings = NotificationServiceSettings()

    assert settings.consumer_group == "workers"
    assert settings.consumer_max_batch == 64
    assert deprecations(settings) == []


def test_the_old_names_are_still_read_with_a_warning_naming_the_new_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFICATION_CONSUMER_GROUP", "old-workers")
    monkeypatch.setenv("NOTIFICATION_BATCH_SIZE", "16")

    settings = NotificationServiceSettings()

    assert settings.consumer_group == "old-workers"
    assert settings.consumer_max_batch == 16
    logs = deprecations(settings)
    assert [(entry["setting"], entry["use_instead"]) for entry in logs] == [
        ("NOTIFICATION_CONSUMER_GROUP", "CONSUMER_GROUP"),
        ("NOTIFICATION_BATCH_SIZE", "CONSUMER_MAX_BATCH"),
    ]
    for entry in logs:
        assert entry["log_level"] == "warning"
        assert entry["event"] == "deprecated_setting"
        assert entry["category"] == "DeprecationWarning"
        assert f"set {entry['use_instead']} instead" in str(entry["message"])


def test_old_names_are_case_insensitive_like_every_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("notification_batch_size", "8")

    assert NotificationServiceSettings().consumer_max_batch == 8


def test_the_new_name_wins_when_both_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATION_CONSUMER_GROUP", "old-workers")
    monkeypatch.setenv("CONSUMER_GROUP", "workers")

    settings = NotificationServiceSettings()

    assert settings.consumer_group == "workers"
    assert [entry["setting"] for entry in deprecations(settings)] == ["NOTIFICATION_CONSUMER_GROUP"]


def test_an_old_keyword_is_accepted_too() -> None:
    settings = NotificationServiceSettings(notification_batch_size=4)  # type: ignore[call-arg]

    assert settings.consumer_max_batch == 4
    assert [entry["setting"] for entry in deprecations(settings)] == ["NOTIFICATION_BATCH_SIZE"]


def test_an_old_name_with_a_bad_value_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATION_BATCH_SIZE", "many")

    with pytest.raises(ValueError, match="consumer_max_batch"):
        NotificationServiceSettings()


def test_the_service_warns_once_at_start_once_logging_is_configured(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("NOTIFICATION_CONSUMER_GROUP", "old-workers")
    configured: list[str] = []
    monkeypatch.setattr(cli, "configure_logging", lambda **options: configured.append("logs"))
    monkeypatch.setattr(cli, "configure_tracing", lambda service: configured.append("traces"))

    with capture_logs() as logs:
        cli._observe("notification-service", NotificationServiceSettings())

    assert configured == ["logs", "traces"]
    assert [entry["setting"] for entry in logs if entry["event"] == "deprecated_setting"] == [
        "NOTIFICATION_CONSUMER_GROUP"
    ]
