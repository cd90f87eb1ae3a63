"""One model registry for every artifact the service loads (docs/model-lifecycle.md)."""
