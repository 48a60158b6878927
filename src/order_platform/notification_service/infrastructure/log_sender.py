"""The default sender: the notification is one log line per order event."""

from __future__ import annotations

import structlog

from order_platform.notification_service.domain import Notification

log = structlog.get_logger("order_platform.notification_service.notifications")


class LogNotificationSender:
    async def send(self, notification: Notification) -> None:
        # The line's text is the contract (operators grep for it), so it is the event itself;
        # the ids follow as structured context for machines.
        log.info(
            notification.line,
            order_id=str(notification.order_id),
            event_id=str(notification.event_id),
            event_type=notification.event_type,
            order_version=notification.order_version,
        )
