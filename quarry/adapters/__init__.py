"""Small Protocol adapters in front of every external system (OpenSearch, Redis, ...)."""
