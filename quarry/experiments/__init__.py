"""Online experiments: A/B tests and interleaving (issue 18, docs/experiments.md)."""
