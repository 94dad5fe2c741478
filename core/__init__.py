"""Shared core of Inferra: settings, logging, database, models, repositories, errors."""
