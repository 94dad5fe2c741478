"""One module per graph step."""
