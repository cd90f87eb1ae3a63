"""The UBI 1.0 indices (`ubi_queries`, `ubi_events`), created from mappings/ when missing."""

from __future__ import annotations

import json
from pathlib import Path

from quarry.adapters.search_engine import SearchEngine

UBI_INDICES = ("ubi_queries", "ubi_events")


def ensure_ubi_indices(engine: SearchEngine, mappings_dir: str | Path) -> list[str]:
    created = []
    for name in UBI_INDICES:
        if not engine.index_exists(name):
            engine.create_index(name, json.loads((Path(mappings_dir) / f"{name}.json").read_text()))
            created.append(name)
    return created
