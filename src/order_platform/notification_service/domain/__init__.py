"""What a notification is. Pure Python: no framework, no I/O."""

from order_platform.notification_service.domain.notification import Notification

__all__ = ["Notification"]
