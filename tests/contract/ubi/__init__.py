"""UBI 1.3.0 conformance schemas for the records Quarry stores; see README.md."""
