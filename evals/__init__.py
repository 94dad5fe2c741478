"""`inferra eval`: datasets, the runner, metrics and reports (see evals/README.md)."""
