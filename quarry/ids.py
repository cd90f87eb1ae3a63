"""Identifiers minted per request: request ids, query ids, fallback trace ids.

They only need to be unique, not unguessable, so they come from the process's Mersenne Twister
(the module's generator: seeded from the OS at start and re-seeded in forked children, as
OpenTelemetry mints its ids) instead of `secrets`/`uuid4`, which make a `getrandom` system call per
id. A wall-clock profile put those three calls per cached search at 8 % of a busy worker's samples;
with the deque-based UBI writer this cut the API's CPU per cached search by about 5 %
(docs/search-api.md#performance).
"""

from __future__ import annotations

import random
import uuid


def random_hex(nbytes: int) -> str:
    """`nbytes` random bytes as lower-case hex, like `secrets.token_hex`."""
    return format(random.getrandbits(nbytes * 8), f"0{nbytes * 2}x")


def random_uuid() -> str:
    """A version-4 UUID string, like `str(uuid.uuid4())`."""
    return str(uuid.UUID(int=random.getrandbits(128), version=4))
