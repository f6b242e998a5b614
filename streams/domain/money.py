"""Money is Decimal with two places, never float."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

CENT = Decimal("0.01")


def money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT, rounding=ROUND_HALF_EVEN)


def order_total(items: Iterable[Mapping[str, Any]]) -> Decimal:
    return money(sum((money(i["unit_price"]) * int(i["quantity"]) for i in items), Decimal(0)))
