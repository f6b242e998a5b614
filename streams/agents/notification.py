"""Notification: one NotificationSent per customer-visible transition of an order."""

from __future__ import annotations

import faust

from streams.app import app, shell, source, table
from streams.domain import notification
from streams.roles import BY_NAME

notifications_table = table("notifications", "Transitions already notified per order_id")


@app.agent(source(*BY_NAME["notification"].inputs))
async def notification_agent(stream: faust.StreamT) -> None:
    await shell.run(
        stream,
        notifications_table,
        notification.decide,
        notification.Notified.from_json,
        notification.Notified.to_json,
    )
