"""The product catalog: its schema, the demo generator and importers for real catalogs."""
