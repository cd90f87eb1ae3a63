"""Swapping the alias under continuous search traffic must not fail a single search."""

from __future__ import annotations

import threading

from pipelines.catalog.generator import generate_catalog
from pipelines.indexing.versions import build_from_documents, rebuild_with_synonyms
from quarry.adapters.search_engine import OpenSearchEngine, SearchEngineError


def docs(size: int, seed: int):
    return ((p.product_id, p.to_document()) for p in generate_catalog(size, seed))


class ContinuousSearch(threading.Thread):
    def __init__(self, url: str, alias: str) -> None:
        super().__init__(daemon=True)
        self.engine = OpenSearchEngine(url)
        self.alias = alias
        self.stop = threading.Event()
        self.ok = 0
        self.failures: list[str] = []

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                result = self.engine.search(self.alias, {"size": 5, "query": {"match": {"title": "sofa"}}})
            except SearchEngineError as exc:
                self.failures.append(str(exc))
                continue
            if result.total == 0:
                self.failures.append("empty result during swap")
            else:
                self.ok += 1


def test_reindex_and_synonym_rebuild_while_searching(engine, settings, alias) -> None:
    build_from_documents(engine, settings, alias, docs(3000, 1), [])
    searcher = ContinuousSearch(settings.opensearch_url, alias)
    searcher.start()
    try:
        before = searcher.ok
        build_from_documents(engine, settings, alias, docs(3000, 2), [])
        rebuild_with_synonyms(engine, settings, alias, ["sofa, settee"])
        build_from_documents(engine, settings, alias, docs(3000, 3), [])
    finally:
        searcher.stop.set()
        searcher.join(timeout=30)
    assert searcher.failures == []
    assert searcher.ok > before + 10  # it really searched throughout the three swaps
