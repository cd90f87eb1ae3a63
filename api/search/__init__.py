"""GET /v1/search: retrieval, filters and facets, Phase-1 ranking with explanations, caching, UBI logging."""
