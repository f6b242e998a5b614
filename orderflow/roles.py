"""The worker roles. Each group of agents runs as its own Faust app: its own process, consumer
group (`orderflow-<role>`), changelog topics and web port. A crash of one role pauses only its
own partitions, and each role scales on its own (start more workers of that role).

Pure data, importable without Faust: services, the API and the tests read it too."""

from __future__ import annotations

from dataclasses import dataclass

from schemas import topics


@dataclass(frozen=True)
class Role:
    name: str
    inputs: tuple[str, ...]  # the public topics its agents read (its own internal ones aside)
    help: str
    # Reads the saga's results and is on no order's way to its next status: its worker runs
    # at a lower CPU priority (ORDERFLOW_BACKGROUND_NICE), so that on a busy machine the
    # saga's hops get the CPU first. It still has to keep up (`make bench` checks).
    background: bool = False


ROLES: tuple[Role, ...] = (
    Role(
        "order",
        (
            topics.ORDERS_COMMANDS.name,
            topics.INVENTORY_EVENTS.name,
            topics.PAYMENTS_EVENTS.name,
            topics.FULFILLMENT_EVENTS.name,
            topics.CUSTOMERS_CHECKS.name,
        ),
        "the order saga (and the notifications it hosts: streams/domain/notification.py)",
    ),
    Role("inventory", (topics.INVENTORY_COMMANDS.name,), "stock per SKU"),
    Role("payment", (topics.PAYMENTS_COMMANDS.name,), "gateway and fraud window"),
    Role("fulfillment", (topics.FULFILLMENT_COMMANDS.name,), "warehouse and the carrier's clock"),
    Role("analytics", (topics.ORDERS_EVENTS.name,), "live per-minute windows", background=True),
    Role("customer", (topics.CUSTOMERS_COMMANDS.name,), "customers: profile, email, active"),
)
BY_NAME = {role.name: role for role in ROLES}
NAMES = tuple(role.name for role in ROLES)


def app_id(base: str, role: str) -> str:
    """The Faust app id of a role: its consumer group and the prefix of its changelogs."""
    return f"{base}-{role}"


def readers_of(topic: str) -> tuple[str, ...]:
    return tuple(role.name for role in ROLES if topic in role.inputs)
