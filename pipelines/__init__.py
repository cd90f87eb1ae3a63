"""Offline jobs: catalog generation and import, indexing, synonyms, benchmarks (later: features, models)."""
