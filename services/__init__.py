"""The domain verbs (tickets, users, runs, feedback, knowledge base) and the one runtime.

Front doors (api/, inferra/ CLI, evals/, the Studio graph) call these; they call agent/,
ingestion/ and core/. Keyword-only arguments, plain values in and out, no HTTP types.
"""
