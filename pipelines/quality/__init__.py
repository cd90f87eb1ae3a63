"""Data-quality checks on the UBI stores, the catalog and the computed features (docs/pipelines.md)."""
