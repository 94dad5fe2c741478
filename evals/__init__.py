"""Inferra evals package (see DESIGN.md)."""
