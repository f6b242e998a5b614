"""The order status vocabulary (DESIGN.md contract: `status` in the API and the read model),
the cancel reasons an OrderCancelled carries and why a cancel was refused, the stock
adjustment vocabulary of the inventory worker's page, and why a customer command was refused
and a customer's status (the customer worker's page). The deciders decide them, the
projection derives them from events, the API filters, waits on and answers with them: one
home, with the events that move an order into each status."""

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
# a line's unit_price or the order's currency is not the SKU's price of record
PRICE_MISMATCH = "PRICE_MISMATCH"
# the order's customer_id is a registered customer who is deactivated (an unregistered one is
# a guest checkout)
CUSTOMER_INACTIVE = "CUSTOMER_INACTIVE"
CANCEL_REASONS = (
    OUT_OF_STOCK,
    UNKNOWN_SKU,
    PAYMENT_DECLINED,
    FRAUD_SUSPECTED,
    CUSTOMER_REQUEST,
    PRICE_MISMATCH,
    CUSTOMER_INACTIVE,
)

# Why a customer's CancelOrder was not honoured (the order worker's page, `cancel_refused`,
# by the CancelOrder's event id; the API answers 409). Not refusals: cancelling an order
# already cancelled at the customer's request (it is cancelled: success), and a cancel while
# one is in progress (the warehouse's answer decides both).
TOO_LATE = "TOO_LATE"  # SHIPPED, DELIVERED or COMPLETED: the parcel has left
ALREADY_CANCELLED = "ALREADY_CANCELLED"  # CANCELLED for another reason (OUT_OF_STOCK, ...)
CANCEL_REFUSALS = (TOO_LATE, ALREADY_CANCELLED)

# Stock adjustments (AdjustStock), as the inventory worker's page reports one by event id.
# The inventory decider (streams/domain/inventory.py) is the one judge of an adjustment: a
# refused one changes no stock and its reason is a sentence naming the figures.
ADJUSTMENT_APPLIED = "applied"
ADJUSTMENT_REFUSED = "refused"
ADJUSTMENT_UNKNOWN = "unknown"  # not decided yet (or so long ago it is forgotten)
ADJUSTMENT_OUTCOMES = (ADJUSTMENT_APPLIED, ADJUSTMENT_REFUSED, ADJUSTMENT_UNKNOWN)
# The largest on_hand a SKU may have: no warehouse holds a billion units of one thing, so an
# adjustment past it is a typo or an overflow. Here, with the contract, so the API can state
# the same bound in its request schema; the decider enforces it.
MAX_ON_HAND = 1_000_000_000

# Why the customer decider (streams/domain/customer.py) refused a customer command, as its
# worker's page reports one by event id (with a sentence; the API answers 409, or 404 for an
# unknown customer). Outcomes as for stock adjustments (ADJUSTMENT_OUTCOMES).
CUSTOMER_EXISTS = "CUSTOMER_EXISTS"  # RegisterCustomer for a customer_id registered already
EMAIL_COOLDOWN = "EMAIL_COOLDOWN"  # ChangeCustomerEmail within the cooldown after the last change
UNKNOWN_CUSTOMER = "UNKNOWN_CUSTOMER"  # any other command for a customer_id never registered
INVALID_VALUE = "INVALID_VALUE"  # a value the customer's value objects refuse (id, name, ...)
CUSTOMER_REFUSALS = (CUSTOMER_EXISTS, EMAIL_COOLDOWN, UNKNOWN_CUSTOMER, INVALID_VALUE)
# A customer's status in the customer worker's view and the read model.
ACTIVE = "ACTIVE"
INACTIVE = "INACTIVE"
