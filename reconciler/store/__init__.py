"""Placeholder package: see docs/architecture.md for its layer."""
