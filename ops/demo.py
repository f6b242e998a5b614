"""The demo catalogue `make run` seeds, so a newcomer's first order succeeds."""

from __future__ import annotations

from decimal import Decimal

# customer_id, name, email, phone: registered by `make run` (the README's orders are alice's)
CUSTOMERS: tuple[tuple[str, str, str, str | None], ...] = (
    ("alice", "Alice Liddell", "alice@example.com", "+31201234567"),
    ("bob", "Bob Builder", "bob@example.com", None),
    ("carol", "Carol Danvers", "carol@example.com", "+4930123456"),
)
CURRENCY = "EUR"  # every demo price is in euros, as the README's examples order
# sku, unit price, units on hand
CATALOGUE: tuple[tuple[str, Decimal, int], ...] = tuple(
    (f"{family}-{variant}", Decimal(price), stock)
    for family, price, variants, stock in (
        ("TSHIRT", "19.99", ("S", "M", "L", "XL"), 200),
        ("HOODIE", "49.90", ("S", "M", "L", "XL"), 80),
        ("SNEAKER", "89.00", ("40", "41", "42", "43", "44"), 40),
        ("CAP", "14.50", ("BLACK", "NAVY", "RED"), 150),
        ("MUG", "9.95", ("WHITE", "BLACK"), 300),
        ("BOTTLE", "24.00", ("500ML", "750ML"), 120),
        ("BACKPACK", "79.00", ("20L", "30L"), 25),
        ("SOCKS", "7.50", ("3PACK", "6PACK"), 500),
        ("POSTER", "12.00", ("A2", "A1"), 60),
        ("STICKERS", "3.99", ("SET1", "SET2"), 1000),
        ("LAMP", "129.00", ("DESK", "FLOOR"), 10),
        ("LIMITED", "999.00", ("EDITION",), 1),
        ("SOLDOUT", "5.00", ("ITEM",), 0),
    )
    for variant in variants
)
