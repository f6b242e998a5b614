"""API keys and their scopes: who may call which endpoint.

A caller sends `Authorization: Bearer <key>`. The operator configures keys as lines of
`<name> sha256:<hex digest of the key> <scope>[,<scope>...]`, in ORDERFLOW_API_KEYS (lines
separated by newlines or `;`) or in the file ORDERFLOW_API_KEYS_FILE. Only digests are
stored; a presented key is hashed and compared with every digest in constant time, and is
never logged. Keys are random tokens (`orderflow api-key`), so one SHA-256 is enough: there is
nothing to guess that a slow hash would protect.

With nothing configured, `make up` / `make run` and the test session write a development key
with every scope (ops/services.py `development_key`); the API itself never invents one, and
with no key at all it refuses every protected request."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

ORDERS_READ = "orders:read"  # orders, timelines, analytics, the live page's data
ORDERS_WRITE = "orders:write"  # place and cancel orders
INVENTORY_READ = "inventory:read"  # stock and prices
INVENTORY_WRITE = "inventory:write"  # set and adjust stock, set prices
CUSTOMERS_READ = "customers:read"  # profiles and a customer's orders
CUSTOMERS_WRITE = "customers:write"  # register, change email, deactivate, reactivate
SCOPES: Mapping[str, str] = {
    ORDERS_READ: "read orders, their timelines and analytics",
    ORDERS_WRITE: "place and cancel orders",
    INVENTORY_READ: "read stock and prices",
    INVENTORY_WRITE: "set and adjust stock and prices",
    CUSTOMERS_READ: "read customers and their orders",
    CUSTOMERS_WRITE: "register customers, change their email, deactivate and reactivate them",
}
DIGEST_PREFIX = "sha256:"


class KeyConfigError(ValueError):
    """A configured key line that cannot be read; names the line, never a key."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes
    scopes: frozenset[str]


def digest_of(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def new_key() -> str:
    return "of_" + secrets.token_urlsafe(32)


def key_line(name: str, key: str, scopes: Iterable[str] = SCOPES) -> str:
    """The configuration line for `key` (what an operator stores instead of the key)."""
    return f"{name} {DIGEST_PREFIX}{digest_of(key).hex()} {','.join(sorted(scopes))}"


def parse(text: str, source: str) -> list[ApiKey]:
    keys: list[ApiKey] = []
    lines = [line.strip() for chunk in text.split(";") for line in chunk.splitlines()]
    for number, line in enumerate(lines, start=1):
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if len(parts) != 3 or not parts[1].startswith(DIGEST_PREFIX):
            raise KeyConfigError(
                f"{source}, entry {number}: expected '<name> sha256:<hex> <scope>,...'"
            )
        name, digest, scope_list = parts
        try:
            raw = bytes.fromhex(digest.removeprefix(DIGEST_PREFIX))
        except ValueError:
            raw = b""
        if len(raw) != hashlib.sha256().digest_size:
            raise KeyConfigError(f"{source}, key {name!r}: the digest is not 64 hex digits")
        scopes = frozenset(scope_list.split(","))
        unknown = sorted(scopes - set(SCOPES))
        if unknown:
            raise KeyConfigError(f"{source}, key {name!r}: unknown scopes {unknown}")
        keys.append(ApiKey(name, raw, scopes))
    return keys


def configured(from_env: str, file: Path | None) -> list[ApiKey]:
    """Every key the operator configured: the environment's, then the file's."""
    keys = parse(from_env, "ORDERFLOW_API_KEYS")
    if file is not None and file.exists():
        keys += parse(file.read_text(), str(file))
    return keys


def find(keys: Iterable[ApiKey], presented: str) -> ApiKey | None:
    """The key whose digest matches; every digest is compared, each in constant time."""
    digest = digest_of(presented)
    found = None
    for key in keys:
        if hmac.compare_digest(key.digest, digest):
            found = key
    return found
