"""Knowledge-base ingestion: bounded loaders, chunker, embedding pipeline (ARCHITECTURE.md)."""
