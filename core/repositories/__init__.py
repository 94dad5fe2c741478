"""Repositories: all SQL lives here. Services call them; they never commit."""
