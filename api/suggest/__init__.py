"""GET /v1/suggest: prefix autocomplete over titles, brands, categories and past successful queries."""
