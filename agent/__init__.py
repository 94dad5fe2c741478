"""The resolution agent: a LangGraph graph, its nodes and their typed state (ARCHITECTURE.md)."""
