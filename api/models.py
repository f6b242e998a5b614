"""Request bodies and parameters of the public API, validated as DESIGN.md's contract says. A bad
request is a 422 naming the field; nothing reaches Kafka.

Every rule the server enforces is in the OpenAPI schema too (patterns, enums, bounds), so a
client generated from it sends nothing the server refuses for a reason it cannot read there.
The one rule JSON Schema cannot state, distinct SKUs in an order, is in the operation's
description."""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import email_validator
import phonenumbers
import pycountry
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    EmailStr,
    Field,
    WithJsonSchema,
    model_validator,
)

from schemas.statuses import MAX_ON_HAND, STATUSES

# --- identifiers -------------------------------------------------------------------------
# customer_id as the contract states it; a SKU and an order id are also path segments, so
# they start with a letter or digit ('.' and '..' never reach a worker's URL)
CUSTOMER_ID = r"^[A-Za-z0-9_.:-]{1,64}$"
KEY = r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$"
CustomerId = Annotated[str, Field(pattern=CUSTOMER_ID, examples=["alice"])]
Sku = Annotated[str, Field(pattern=KEY, max_length=64, examples=["TSHIRT-M"])]
OrderId = Annotated[str, Field(pattern=KEY, max_length=64)]


# email_validator (behind EmailStr) refuses addresses at special-use domains (`.test`,
# `.local`, `localhost`, ...), which JSON Schema's `email` format allows: the schema says so
def _any_case(word: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in word)


SPECIAL_USE = "|".join(_any_case(name) for name in email_validator.SPECIAL_USE_DOMAIN_NAMES)
EMAIL = rf"^(?![^@]*@(?:[^@]*\.)?(?:{SPECIAL_USE})\.?$)"
Email = Annotated[
    EmailStr,
    WithJsonSchema(
        {
            "type": "string",
            "format": "email",
            "pattern": EMAIL,
            "description": "An address that can receive mail: not at a special-use domain "
            f"({', '.join(email_validator.SPECIAL_USE_DOMAIN_NAMES)})",
            "examples": ["alice@example.com"],
        }
    ),
]

# --- codes ---------------------------------------------------------------------------------
# ISO 4217 codes that are not money one can price goods in: precious metals, bond-market and
# accounting units, special drawing rights, the testing code, "no currency", and fund codes
NOT_MONEY = frozenset(
    {"XAG", "XAU", "XPD", "XPT", "XBA", "XBB", "XBC", "XBD", "XDR", "XSU", "XUA", "XAD"}
    | {"XTS", "XXX", "BOV", "CHE", "CHW", "CLF", "COU", "MXV", "USN", "UYI", "UYW"}
)
CURRENCIES = tuple(sorted(c.alpha_3 for c in pycountry.currencies if c.alpha_3 not in NOT_MONEY))
COUNTRIES = tuple(sorted(c.alpha_2 for c in pycountry.countries))


def _one_of(codes: tuple[str, ...], what: str) -> AfterValidator:
    known = frozenset(codes)

    def check(value: str) -> str:
        if value not in known:
            raise ValueError(f"{value[:16]!r} is not {what}")
        return value

    return AfterValidator(check)


Currency = Annotated[
    str,
    _one_of(CURRENCIES, "an ISO 4217 currency code (upper case)"),
    WithJsonSchema({"type": "string", "enum": list(CURRENCIES), "examples": ["EUR"]}),
]
Country = Annotated[
    str,
    _one_of(COUNTRIES, "an ISO 3166-1 alpha-2 country code (upper case)"),
    WithJsonSchema({"type": "string", "enum": list(COUNTRIES), "examples": ["NL"]}),
]

# --- numbers -------------------------------------------------------------------------------
MAX_PRICE = Decimal("999999.99")
PRICE = r"^(0|[1-9][0-9]{0,5})(\.[0-9]{1,2})?$"


def _price(value: Any) -> Decimal:
    """A decimal string as PRICE says, or a JSON number; >= 0, at most MAX_PRICE, two places.
    Never a float inside: a number is read through its shortest decimal form."""
    if isinstance(value, str):
        if not re.fullmatch(PRICE, value):
            raise ValueError(
                f"a price is a decimal string like '19.99' (two places at most, 0 to "
                f"{MAX_PRICE}), not {value[:24]!r}"
            )
        return Decimal(value)
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise ValueError("a price is a decimal string like '19.99' or a JSON number")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError("a price must be a finite number") from None
    if not amount.is_finite() or amount < 0 or amount > MAX_PRICE:
        raise ValueError(f"a price must be between 0 and {MAX_PRICE}")
    if amount != amount.quantize(Decimal("0.01")):
        raise ValueError("a price has two decimal places at most")
    return amount


Price = Annotated[
    Decimal,
    BeforeValidator(_price),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": PRICE},
                {"type": "number", "minimum": 0, "maximum": float(MAX_PRICE), "multipleOf": 0.01},
            ],
            "description": "Decimal, two places at most, 0 to 999999.99 (string or number)",
            "examples": ["19.99"],
        }
    ),
]


def _whole(value: Any) -> int:
    """A JSON integer; a whole-number float (`5.0`) counts, as JSON Schema's `integer` says.
    Never a string or a bool."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("must be a whole number")
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError("must be a whole number")
        return int(value)
    return value


def Count(low: int, high: int) -> Any:
    return Annotated[int, Field(ge=low, le=high), BeforeValidator(_whole)]


INSTANT = r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d{1,9})?([Zz]|[+-]\d{2}:\d{2})$"


def _instant(value: Any) -> datetime:
    """An RFC 3339 date-time with its offset (`2026-01-01T00:00:00Z`), as the schema's
    `date-time` format says; never a number (pydantic would read one as epoch seconds)."""
    if not isinstance(value, str) or not re.fullmatch(INSTANT, value):
        raise ValueError("must be an RFC 3339 date-time with an offset, e.g. 2026-01-01T00:00:00Z")
    try:
        return datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{value[:40]!r} is not a date-time that exists") from None


Instant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "pattern": INSTANT}),
]

MAX_STOCK = MAX_ON_HAND  # the inventory decider's bound, stated with the contract


class OrderItem(BaseModel):
    sku: Sku
    quantity: Count(1, 1000)  # type: ignore[valid-type]
    unit_price: Price


class ShippingAddress(BaseModel):
    country: Country
    city: Annotated[str, Field(max_length=120)] | None = None
    postal_code: Annotated[str, Field(max_length=20)] | None = None
    line1: Annotated[str, Field(max_length=200)] | None = None


class Payment(BaseModel):
    method: Annotated[str, Field(min_length=1, max_length=32)] = "card"
    scenario: Literal["approve", "decline", "error"] = "approve"


class PlaceOrderRequest(BaseModel):
    customer_id: CustomerId
    customer_email: Email
    currency: Currency = "USD"
    items: Annotated[
        list[OrderItem],
        Field(
            min_length=1,
            max_length=100,
            description="One line per SKU: no two lines may have the same `sku`",
            json_schema_extra={"uniqueItems": True},
        ),
    ]
    shipping_address: ShippingAddress
    payment: Payment = Field(default_factory=Payment)

    @model_validator(mode="after")
    def distinct_skus(self) -> PlaceOrderRequest:
        skus = [item.sku for item in self.items]
        if len(skus) != len(set(skus)):
            duplicates = sorted({sku for sku in skus if skus.count(sku) > 1})
            raise ValueError(f"items: each sku may appear once, repeated: {duplicates[:5]}")
        return self


class SetStockRequest(BaseModel):
    on_hand: Count(0, MAX_STOCK)  # type: ignore[valid-type]
    unit_price: Annotated[
        Price | None, Field(description="the SKU's price of record; absent: unchanged")
    ] = None
    currency: Annotated[
        Currency, Field(description="the currency of `unit_price` (used only with it)")
    ] = "USD"


class AdjustStockRequest(BaseModel):
    delta: Count(-MAX_STOCK, MAX_STOCK)  # type: ignore[valid-type]


# --- customers ------------------------------------------------------------------------------
NAME = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
E164 = r"^\+[1-9][0-9]{6,14}$"


def _assigned(value: str) -> str:
    """A number some country assigns (libphonenumber), beyond E.164's shape."""
    try:
        valid = phonenumbers.is_valid_number(phonenumbers.parse(value, None))
    except phonenumbers.NumberParseException:
        valid = False
    if not valid:
        raise ValueError("is not a phone number any country assigns")
    return value


Phone = Annotated[
    str,
    Field(
        pattern=E164,
        description="E.164 (`+31201234567`), a number a country actually assigns (checked "
        "with libphonenumber, which no pattern can state)",
        examples=["+31201234567"],
    ),
    AfterValidator(_assigned),
]
CustomerName = Annotated[
    str,
    Field(
        max_length=200,
        pattern=NAME,
        description="1..200 characters, no control characters, not only spaces",
        examples=["Alice Liddell"],
    ),
]


class RegisterCustomerRequest(BaseModel):
    customer_id: Annotated[
        CustomerId | None, Field(description="chosen by the client, or made by the API")
    ] = None
    name: CustomerName
    email: Email
    phone: Phone | None = None


class ChangeEmailRequest(BaseModel):
    email: Email


class DeactivateRequest(BaseModel):
    reason: Annotated[str, Field(max_length=200)] | None = None


Status = Literal[STATUSES]  # type: ignore[valid-type]


class OrderAccepted(BaseModel):
    order_id: str
    status: Literal["PENDING"] = "PENDING"
    correlation_id: str
