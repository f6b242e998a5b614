"""The order status vocabulary (DESIGN.md contract: `status` in the API and the read model)
and the cancel reasons an OrderCancelled carries. The saga decides them, the projection
derives them from events, the API filters and waits on them: one home, with the events that
move an order into each status."""

from __future__ import annotations

PENDING = "PENDING"
CONFIRMED = "CONFIRMED"
FULFILLMENT_SCHEDULED = "FULFILLMENT_SCHEDULED"
SHIPPED = "SHIPPED"
DELIVERED = "DELIVERED"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"

# The lifecycle, in order; the event that moves an order into each status. An order's status
# is the furthest step it reached, unless it was cancelled (which can happen from any step
# before it ships).
STATUS_BY_EVENT = {
    "OrderPlaced": PENDING,
    "OrderConfirmed": CONFIRMED,
    "FulfillmentScheduled": FULFILLMENT_SCHEDULED,
    "OrderShipped": SHIPPED,
    "OrderDelivered": DELIVERED,
    "OrderCompleted": COMPLETED,
}
STATUSES = (*STATUS_BY_EVENT.values(), CANCELLED)
TERMINAL = (COMPLETED, CANCELLED)

# Why an order was cancelled (OrderCancelled.reason).
OUT_OF_STOCK = "OUT_OF_STOCK"
UNKNOWN_SKU = "UNKNOWN_SKU"
PAYMENT_DECLINED = "PAYMENT_DECLINED"
FRAUD_SUSPECTED = "FRAUD_SUSPECTED"
CUSTOMER_REQUEST = "CUSTOMER_REQUEST"
CANCEL_REASONS = (OUT_OF_STOCK, UNKNOWN_SKU, PAYMENT_DECLINED, FRAUD_SUSPECTED, CUSTOMER_REQUEST)
