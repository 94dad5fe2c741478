"""Inferra HTTP API (FastAPI)."""
