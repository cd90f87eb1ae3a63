"""The online Litestar service: one sub-package per feature (controllers, schemas, services, dependencies)."""
