"""The default sender: the notification is one log line per order."""

from __future__ import annotations

import structlog

from order_platform.notification_service.domain import Notification

log = structlog.get_logger("order_platform.notification_service.notifications")


class LogNotificationSender:
    async def send(self, notification: Notification) -> None:
        # The line's text is the contract (operators grep for it), so it is the event itself;
        # the ids follow as structured context for machines.
        log.info(
            f"📩 Notification sent to {notification.customer_name} | "
            f"Order: {notification.order_id} | Total: {notification.total_text}",
            order_id=str(notification.order_id),
            event_id=str(notification.event_id),
        )
