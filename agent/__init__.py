"""Inferra agent package (see DESIGN.md)."""
