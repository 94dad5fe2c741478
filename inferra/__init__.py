"""Inferra command line (typer): serve, db, create-admin, seed-demo."""
