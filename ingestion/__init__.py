"""Inferra ingestion package (see DESIGN.md)."""
