"""Request and query ids: the formats callers parse, uniqueness, and fresh ids in forked processes
(a generator copied by fork without re-seeding would hand parent and child the same ids)."""

from __future__ import annotations

import os
import re
import uuid

from quarry.ids import random_hex, random_uuid


def test_hex_ids_have_the_requested_length() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", random_hex(8))
    assert re.fullmatch(r"[0-9a-f]{32}", random_hex(16))


def test_query_ids_are_version_4_uuids() -> None:
    parsed = uuid.UUID(random_uuid())
    assert parsed.version == 4 and parsed.variant == uuid.RFC_4122


def test_ids_do_not_repeat() -> None:
    assert len({random_uuid() for _ in range(100_000)}) == 100_000


def test_a_forked_child_mints_other_ids_than_its_parent() -> None:
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        os.write(write_end, random_hex(16).encode())
        os._exit(0)
    os.close(write_end)
    os.waitpid(child, 0)
    from_child = os.read(read_end, 64).decode()
    os.close(read_end)
    assert len(from_child) == 32 and from_child != random_hex(16)
