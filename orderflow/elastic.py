"""Elasticsearch, the way every process of ours reads its answers: what counts as away (wait
it out, or answer 503) and what is a refusal (the request itself is wrong)."""

from __future__ import annotations

from elasticsearch import ConnectionError as EsConnectionError
from elasticsearch import ConnectionTimeout

# Away or too slow to answer. A timeout is not a ConnectionError in elastic-transport: with
# that alone caught, a timeout stopped the indexer and made the API answer 500.
UNREACHABLE = (EsConnectionError, ConnectionTimeout)


def passing(status: int) -> bool:
    """An HTTP status Elasticsearch gives when it cannot serve now but will (5xx: shards not
    allocated yet after a restart; 429: overloaded): wait, or answer 503."""
    return status >= 500 or status == 429
