"""Versioned product indices behind an alias: build, verify, swap, roll back."""
