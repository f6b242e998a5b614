"""Request bodies of the public API, validated as DESIGN.md's contract says. A bad body is a
422 naming the field; nothing reaches Kafka."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import pycountry
from pydantic import BaseModel, EmailStr, Field, StrictInt, field_validator, model_validator

Identifier = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


class OrderItem(BaseModel):
    sku: Identifier
    quantity: Annotated[StrictInt, Field(ge=1, le=1000)]
    unit_price: Annotated[Decimal, Field(ge=0, max_digits=16, decimal_places=2)]


class ShippingAddress(BaseModel):
    country: Annotated[str, Field(min_length=2, max_length=2)]
    city: Annotated[str, Field(max_length=120)] | None = None
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    line1: Annotated[str, Field(max_length=200)] | None = None

    @field_validator("country")
    @classmethod
    def iso_country(cls, value: str) -> str:
        if pycountry.countries.get(alpha_2=value.upper()) is None:
            raise ValueError(f"{value!r} is not an ISO 3166-1 alpha-2 country code")
        return value.upper()


class Payment(BaseModel):
    method: Annotated[str, Field(min_length=1, max_length=32)] = "card"
    scenario: Literal["approve", "decline", "error"] = "approve"


class PlaceOrderRequest(BaseModel):
    customer_id: Identifier
    customer_email: EmailStr
    currency: Annotated[str, Field(min_length=3, max_length=3)] = "USD"
    items: Annotated[list[OrderItem], Field(min_length=1, max_length=100)]
    shipping_address: ShippingAddress
    payment: Payment = Field(default_factory=Payment)

    @field_validator("currency")
    @classmethod
    def iso_currency(cls, value: str) -> str:
        if pycountry.currencies.get(alpha_3=value.upper()) is None:
            raise ValueError(f"{value!r} is not an ISO 4217 currency code")
        return value.upper()

    @model_validator(mode="after")
    def distinct_skus(self) -> PlaceOrderRequest:
        skus = [item.sku for item in self.items]
        if len(skus) != len(set(skus)):
            duplicates = sorted({sku for sku in skus if skus.count(sku) > 1})
            raise ValueError(f"items: each sku may appear once, repeated: {duplicates}")
        return self


class SetStockRequest(BaseModel):
    on_hand: Annotated[StrictInt, Field(ge=0, le=1_000_000_000)]


class AdjustStockRequest(BaseModel):
    delta: Annotated[StrictInt, Field(ge=-1_000_000_000, le=1_000_000_000)]


class OrderAccepted(BaseModel):
    order_id: str
    status: Literal["PENDING"] = "PENDING"
    correlation_id: str
