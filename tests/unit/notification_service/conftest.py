"""Fakes of the worker's ports, fresh for every test."""

import pytest

from tests.unit.notification_service.fakes import FakeLedger, FakeOrderProgress, RecordingSender


@pytest.fixture
def sender() -> RecordingSender:
    return RecordingSender()


@pytest.fixture
def ledger() -> FakeLedger:
    return FakeLedger()


@pytest.fixture
def orders() -> FakeOrderProgress:
    return FakeOrderProgress()
