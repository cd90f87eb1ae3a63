"""Shoppers' privacy: consent on every request, and the admin's export and erasure of a user
(docs/privacy.md)."""
